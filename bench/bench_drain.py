"""How fast a kiosk drains a spool filled during an outage, beside a bare upload.

    .venv/bin/python bench/bench_drain.py [--taps 10000] [--outage 20] [--members 2000]

1. Starts bench/_server.py (the real app, gunicorn's gevent worker, a fresh SQLite in WAL
   with synchronous=FULL, members with NFC badges), then stops it: the outage.
2. Writes `--taps` badge reads into a kiosk spool with kiosk.spool.Spool, as the kiosk
   writes them: each member in and out a few times over the last hours, oldest first.
3. Starts a real `presence kiosk` on that spool while the server is down, and keeps it
   down `--outage` seconds, long enough for the uploader's backoff to grow.
4. Starts the server again on the same data and port, and times from the moment it
   answers /healthz to the spool being empty: `drain`. Then checks the server's log
   holds every tap exactly once.
5. Beside it, from this script: the same batches posted back to back to
   `/bench/bare` (parses the body and answers, nothing else) on the same server: `bare`.

Exits 1 if a tap is missing from the log or twice in it. See bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _stack import free_port  # noqa: E402
from bench_taps import start_server, stop_server, tail, wait_ready  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from kiosk.spool import Spool, SpooledTap  # noqa: E402

BATCH = 50  # the kiosk's default upload_batch


def fill_spool(path: Path, taps: int, members: int) -> list[SpooledTap]:
    """`taps` reads, round-robin over the members, 90 s apart for each member (past the
    server's 60 s debounce: each is a real check-in or check-out), oldest first."""
    spool = Spool(path)
    rounds = -(-taps // members)
    start = datetime.now(UTC) - timedelta(seconds=rounds * 90 + 600)
    written = []
    for n in range(taps):
        member, lap = n % members, n // members
        at = start + timedelta(seconds=lap * 90, milliseconds=member)
        tap = SpooledTap.new("nfc", f"04{member:012X}", at.isoformat(), 0.0, "an-earlier-boot")
        spool.add(tap)
        written.append(tap)
    spool.close()
    return written


def pending(path: Path) -> int:
    with sqlite3.connect(path, timeout=10) as db:
        return int(db.execute("SELECT count(*) FROM taps").fetchone()[0])


def bare_upload(base: str, taps: list[SpooledTap]) -> float:
    """Seconds to post the same batches back to back to the bare route."""
    started = time.perf_counter()
    with requests.Session() as http:
        for first in range(0, len(taps), BATCH):
            body = {"taps": [tap.as_json() for tap in taps[first : first + BATCH]]}
            response = http.post(f"{base}/bench/bare", json=body, timeout=30)
            response.raise_for_status()
    return time.perf_counter() - started


def check_log(database: str, taps: list[SpooledTap]) -> tuple[int, int]:
    """(missing, twice) among the spooled taps, in the server's tap log."""
    with sqlite3.connect(database) as db:
        stored = [
            uuid.UUID(bytes=row[0]) if isinstance(row[0], bytes) else uuid.UUID(row[0])
            for row in db.execute("SELECT tap_id FROM taps")
        ]
    wanted = {uuid.UUID(tap.id) for tap in taps}
    found = set(stored)
    return len(wanted - found), len(stored) - len(found)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--taps", type=int, default=10_000)
    parser.add_argument("--members", type=int, default=2_000)
    parser.add_argument("--outage", type=float, default=20.0, help="seconds the server is down")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="presence-bench-drain-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    print("Présence kiosk drain benchmark")
    print(f"  machine   {platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}")
    print("  server    gunicorn gevent worker, 1 process, SQLite (WAL, synchronous=FULL)")
    print(
        f"  kiosk     `presence kiosk`, upload_batch {BATCH}; {args.taps} taps spooled, "
        f"{args.members} members; server down {args.outage:.0f} s first"
    )

    server, log = start_server(folder, port, args.members)
    info = wait_ready(server, log, base)
    stop_server(server)
    spool_path = folder / "spool.db"
    taps = fill_spool(spool_path, args.taps, args.members)
    config = folder / "kiosk.toml"
    config.write_text(
        f'[kiosk]\nserver_url = "{base}"\ntoken = "{info["token"]}"\nreader = "stdin"\n'
        f'spool_path = "{spool_path}"\nfeedback_port = {free_port()}\n',
        encoding="utf-8",
    )
    kiosk_log = (folder / "kiosk.log").open("wb")
    kiosk = subprocess.Popen(
        [sys.executable, "-m", "presence", "--config", str(config), "kiosk"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=kiosk_log,
        stderr=subprocess.STDOUT,
    )
    try:
        time.sleep(args.outage)
        server, log = start_server(folder, port, args.members, ["--serve-only"], name="again")
        wait_ready(server, log, base)
        back = time.perf_counter()
        while pending(spool_path):
            if kiosk.poll() is not None or time.perf_counter() - back > 600:
                print(tail(folder / "kiosk.log"), file=sys.stderr)
                return 1
            time.sleep(0.05)
        drain = time.perf_counter() - back
        bare = bare_upload(base, taps)
    finally:
        kiosk.terminate()
        kiosk.wait(10)
        kiosk_log.close()
        stop_server(server)
    missing, twice = check_log(info["database"], taps)
    print()
    print(
        f"  drain     {args.taps} taps in {drain:.1f} s from the server's return "
        f"({args.taps / drain:.0f} taps/s)"
    )
    print(
        f"  bare      the same {-(-args.taps // BATCH)} batches to /bench/bare: {bare:.1f} s "
        f"(drain / bare: {drain / bare:.1f}x)"
    )
    print(f"  log       {missing} missing, {twice} twice")
    return 0 if missing == twice == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
