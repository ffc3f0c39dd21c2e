"""Throughput and latency of `POST /api/v1/taps` on a real server process, beside a bare route.

    .venv/bin/python bench/bench_taps.py [--members 2000] [--concurrency 4] [--duration 15]

Starts bench/_server.py (create_app + server.cli.serving.run: gunicorn, one gevent worker) on
127.0.0.1 with a fresh SQLite database in a temporary folder and sends one tap per member
(so the measured taps meet members with a history). Then, for each batch size, it sends
uploads from `--concurrency` client threads over keep-alive sessions, first to the real
endpoint, then with bodies of the same shape to `POST /bench/bare` in the same server
process, and prints taps/s, uploads/s and latency percentiles for both, and the ratios.
Exits 1 if any request failed or got an unexpected answer. See bench/README.md.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import create_engine, func, select

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _stack import free_port, fresh_database, private_redis  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
READY = "BENCH_READY"
OUTCOMES = ("checked_in", "checked_out", "duplicate")
#: Seconds of kiosk wall time between two consecutive taps of the whole stream. With
#: 2,000 members tapped in turn, a member's taps are 200 s apart: beyond the 60 s debounce.
TAP_STEP = 0.1
#: The stream of taps starts this long before the benchmark, so no read_at is in the future.
HISTORY = 6 * 3600.0


# -- the taps a kiosk sends ---------------------------------------------------------------


class Exhausted(Exception):
    """The tap stream reached the present: stop sending."""


class TapStream:
    """Taps of members 0..N-1 in turn, read_at increasing by TAP_STEP from HISTORY ago.

    With `clock`, the upload carries the kiosk's clock and each tap its monotonic time,
    from one boot an hour before the first tap: the server then places each tap at
    received_at - (clock.monotonic - tap.monotonic), i.e. at its read_at plus the transit
    time, as for a real kiosk sending taps it has held for a while.
    """

    def __init__(self, members: int, *, clock: bool, wrap: bool) -> None:
        self.members = members
        self.clock = clock
        self.wrap = wrap  # the bare route stores nothing: it may reuse read_at values
        self.start = time.time() - HISTORY
        self.boot_wall = self.start - 3600.0
        self.boot_id = str(uuid.uuid4())
        self.limit = int(HISTORY * 0.95 / TAP_STEP)
        self._counter = itertools.count()
        self._badges = [self._badge(i) for i in range(members)]

    @staticmethod
    def _badge(index: int) -> str:
        # As a reader may give it: lower case with colons; the server normalises it.
        raw = f"04{index:012x}"
        return ":".join(raw[i : i + 2] for i in range(0, len(raw), 2))

    def body(self, size: int) -> bytes:
        taps = []
        for _ in range(size):
            k = next(self._counter)  # atomic under the GIL: threads never share a k
            if k >= self.limit:
                if not self.wrap:
                    raise Exhausted
                k %= self.limit
            read = self.start + k * TAP_STEP
            tap: dict[str, Any] = {
                "id": str(uuid.uuid4()),
                "badge": self._badges[k % self.members],
                "badge_kind": "nfc",
                "read_at": datetime.fromtimestamp(read, UTC).isoformat(timespec="milliseconds"),
            }
            if self.clock:
                tap["monotonic"] = round(read - self.boot_wall, 3)
                tap["boot_id"] = self.boot_id
            taps.append(tap)
        upload: dict[str, Any] = {"taps": taps}
        if self.clock:
            upload["clock"] = {
                "monotonic": round(time.time() - self.boot_wall, 3),
                "boot_id": self.boot_id,
            }
        return json.dumps(upload).encode()


# -- measuring ----------------------------------------------------------------------------


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)  # seconds, per successful upload
    finished: list[tuple[float, int]] = field(default_factory=list)  # (perf_counter, taps)
    taps: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    head_counts: list[int] = field(default_factory=list)

    def fail(self, message: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(message[:300])

    def merge(self, other: Stats) -> None:
        self.latencies += other.latencies
        self.finished += other.finished
        self.taps += other.taps
        self.errors += other.errors
        self.error_samples += other.error_samples[: 5 - len(self.error_samples)]
        self.outcomes.update(other.outcomes)
        self.head_counts += other.head_counts


@dataclass
class Target:
    name: str
    urls: list[str]  # one per server process: client i posts to urls[i % len(urls)]
    headers: list[dict[str, str]]  # one per kiosk: client i is kiosk i % len(headers)
    real: bool  # the tap endpoint (checks results) or the bare one


def check_answer(target: Target, batch: int, response: requests.Response, stats: Stats) -> bool:
    if response.status_code != 200:
        stats.fail(f"HTTP {response.status_code}: {response.text[:200]}")
        return False
    try:
        answer = response.json()
    except ValueError:
        stats.fail(f"not JSON: {response.text[:200]}")
        return False
    if not target.real:
        if answer != {"status": "ok"}:
            stats.fail(f"unexpected bare answer: {answer!r}")
            return False
        return True
    results = answer.get("results") if isinstance(answer, dict) else None
    if not isinstance(results, list) or len(results) != batch:
        stats.fail(f"expected {batch} results: {str(answer)[:200]}")
        return False
    stats.outcomes.update(result.get("outcome", "?") for result in results)
    stats.head_counts.append(answer.get("head_count", -1))
    return True


def client_loop(
    target: Target,
    url: str,
    headers: dict[str, str],
    stream: TapStream,
    batch: int,
    http: requests.Session,
    start: threading.Barrier,
    stop_at: list[float],
    max_uploads: threading.Semaphore,
    stop: threading.Event,
    stats: Stats,
) -> None:
    start.wait()
    deadline = stop_at[0]
    while not stop.is_set() and time.perf_counter() < deadline:
        if not max_uploads.acquire(blocking=False):
            break
        try:
            body = stream.body(batch)
        except Exhausted:
            break
        began = time.perf_counter()
        try:
            response = http.post(url, data=body, headers=headers, timeout=60)
        except requests.RequestException as error:
            stats.fail(f"{type(error).__name__}: {error}")
            continue
        ended = time.perf_counter()
        if check_answer(target, batch, response, stats):
            stats.latencies.append(ended - began)
            stats.finished.append((ended, batch))
            stats.taps += batch


@dataclass
class Measurement:
    stats: Stats
    elapsed: float

    @property
    def uploads(self) -> int:
        return len(self.stats.latencies)

    def percentile(self, q: int) -> float:
        """The q-th percentile of upload latency in milliseconds (median for q=50)."""
        values = self.stats.latencies
        if not values:
            return float("nan")
        if q == 50:
            return statistics.median(values) * 1000
        if len(values) == 1:
            return values[0] * 1000
        return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000

    def rate(self, count: int) -> float:
        return count / self.elapsed if self.elapsed > 0 else float("nan")

    def slices(self, started: float, parts: int = 4) -> list[float]:
        """Taps/s in consecutive parts of the window: does throughput drift as tables grow?"""
        width = self.elapsed / parts
        totals = [0] * parts
        for ended, taps in self.stats.finished:
            totals[min(parts - 1, int((ended - started) / width))] += taps
        return [total / width for total in totals]


def measure(
    target: Target,
    stream: TapStream,
    batch: int,
    sessions: list[requests.Session],
    seconds: float,
    max_uploads: int,
    stop: threading.Event,
) -> tuple[Measurement, float]:
    """Run len(sessions) client threads for `seconds` (or `max_uploads` uploads)."""
    barrier = threading.Barrier(len(sessions) + 1)
    stop_at = [0.0]
    budget = threading.Semaphore(max_uploads)
    per_thread = [Stats() for _ in sessions]
    threads = [
        threading.Thread(
            target=client_loop,
            args=(target, url, headers, stream, batch, http, barrier, stop_at, budget, stop, stats),
            daemon=True,
        )
        for http, stats, url, headers in zip(
            sessions,
            per_thread,
            itertools.islice(itertools.cycle(target.urls), len(sessions)),
            itertools.islice(itertools.cycle(target.headers), len(sessions)),
            strict=True,
        )
    ]
    for thread in threads:
        thread.start()
    started = time.perf_counter()
    stop_at[0] = started + seconds
    barrier.wait()
    for thread in threads:
        while thread.is_alive():  # a timed join lets Ctrl+C through
            thread.join(0.2)
    elapsed = time.perf_counter() - started
    total = Stats()
    for stats in per_thread:
        total.merge(stats)
    return Measurement(total, elapsed), started


# -- the server process -------------------------------------------------------------------


def start_server(
    folder: Path,
    port: int,
    members: int,
    extra: Sequence[str] = (),
    name: str = "server",
) -> tuple[subprocess.Popen[bytes], Path]:
    """bench/_server.py on `port`, data in folder/data, its output in folder/<name>.log."""
    log = folder / f"{name}.log"
    command = [
        sys.executable,
        "-u",
        str(HERE / "_server.py"),
        "--data-dir",
        str(folder / "data"),
        "--port",
        str(port),
        "--members",
        str(members),
        *extra,
    ]
    with log.open("wb") as out:
        # Its own session: Ctrl+C reaches only us, and we stop it in order.
        process = subprocess.Popen(
            command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    return process, log


def wait_ready(process: subprocess.Popen[bytes], log: Path, base: str) -> dict[str, Any]:
    deadline = time.monotonic() + 180
    info: dict[str, Any] | None = None
    while info is None:
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the server did not start:\n" + tail(log))
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith(READY + " "):
                info = json.loads(line.removeprefix(READY + " "))
                break
        else:
            time.sleep(0.1)
    while True:
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the server does not answer:\n" + tail(log))
        try:
            if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                return info
        except requests.RequestException:
            pass
        time.sleep(0.1)


def stop_server(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()  # gunicorn: graceful stop of the master and its worker
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the group of the process we started
        process.wait(timeout=10)


def tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"


# -- reporting ----------------------------------------------------------------------------


def versions() -> str:
    found = []
    for name in ("flask", "flask-smorest", "marshmallow", "sqlalchemy", "gunicorn", "requests"):
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pass
    return ", ".join(found)


def file_system(path: Path) -> str:
    """The type and device of the file system holding `path` (Linux), for fsync costs."""
    best = ("", "unknown file system")
    try:
        with open("/proc/mounts") as mounts:
            for line in mounts:
                device, point, kind, *_ = line.split()
                inside = str(path).startswith(point.rstrip("/") + "/") or str(path) == point
                if inside and len(point) >= len(best[0]):
                    best = (point, f"{kind} on {device}")
    except OSError:
        pass
    return best[1]


def print_header(args: argparse.Namespace, info: dict[str, Any], folder: Path) -> None:
    cpus = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cpus
    print("Présence tap upload benchmark")
    print(f"  machine   {platform.machine()}, {cpus} CPUs ({usable} usable), {platform.system()}")
    print(f"  python    {platform.python_version()} ({platform.python_implementation()})")
    print(
        f"  sqlite    {sqlite3.sqlite_version} (as server/store/db.py sets it: WAL, "
        "synchronous=FULL, "
        "BEGIN IMMEDIATE, busy_timeout 30 s)"
    )
    print(f"  libraries {versions()}")
    print(f"  sqlite db {info['database']} (fresh; {file_system(folder)})")
    print(
        "  server    gunicorn gevent worker, 127.0.0.1, default [presence]/[api] settings "
        "(debounce 60 s): 1 process on SQLite"
        + (
            f"; then {args.processes} processes on a fresh PostgreSQL database "
            "(and a private Redis for the boards' message queue)"
            if args.postgres_url
            else ""
        )
    )
    print(
        f"  data      {info['members']} members with one NFC badge each, 1 site open every "
        f"day 00:00-23:59, {len(info['tokens'])} toggle kiosks, one per client thread "
        f"(arranged in {info['arrange_seconds']} s)"
    )
    clock = (
        "kiosk clock sent (monotonic + boot_id, one boot): taps placed by monotonic time"
        if not args.no_clock
        else "no kiosk clock: taps placed by read_at"
    )
    print(
        f"  clients   {args.concurrency} threads, requests.Session keep-alive each; "
        f"{', '.join(map(str, args.batch))} taps per upload"
    )
    print(
        f"  taps      members in turn, read_at +{TAP_STEP} s per tap (a member every "
        f"{TAP_STEP * args.members:.0f} s); {clock}"
    )
    print(
        f"  windows   {args.warmup:g} s warm-up, then {args.duration:g} s on /api/v1/taps and "
        f"{args.bare_duration:g} s on /bench/bare per batch size (at most "
        f"{args.max_uploads} uploads)"
    )
    print()


def ratio(ours: float, bare: float) -> str:
    if not bare or bare != bare or ours != ours:
        return "-"
    return f"{ours / bare:.2f}"


def report(batch: int, ours: Measurement, ours_started: float, bare: Measurement) -> list[str]:
    rows = []
    head = (
        f"{'':14}{'uploads':>8}{'taps':>8}{'taps/s':>10}{'uploads/s':>11}"
        f"{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}"
    )
    rows.append(f"== batches of {batch} tap{'s' if batch > 1 else ''} ==")
    rows.append(head)
    for name, m in (("/api/v1/taps", ours), ("/bench/bare", bare)):
        rows.append(
            f"{name:14}{m.uploads:>8}{m.stats.taps:>8}{m.rate(m.stats.taps):>10.1f}"
            f"{m.rate(m.uploads):>11.1f}{m.percentile(50):>9.2f}{m.percentile(95):>9.2f}"
            f"{m.percentile(99):>9.2f}{m.stats.errors:>8}"
        )
    taps_ratio = ratio(ours.rate(ours.stats.taps), bare.rate(bare.stats.taps))
    uploads_ratio = ratio(ours.rate(ours.uploads), bare.rate(bare.uploads))
    rows.append(
        f"{'ours/bare':14}{'':>16}{taps_ratio:>10}{uploads_ratio:>11}"
        + "".join(f"{ratio(ours.percentile(q), bare.percentile(q)):>9}" for q in (50, 95, 99))
    )
    outcomes = ours.stats.outcomes
    others = {k: v for k, v in outcomes.items() if k not in OUTCOMES}
    shown = ", ".join(f"{k} {outcomes.get(k, 0)}" for k in OUTCOMES)
    rows.append(f"outcomes      {shown}" + (f", other {others}" if others else ""))
    slices = ", ".join(f"{rate:.0f}" for rate in ours.slices(ours_started))
    last_head = ours.stats.head_counts[-1] if ours.stats.head_counts else "-"
    rows.append(f"taps/s by quarter of the window: {slices}; last head_count {last_head}")
    for m in (ours, bare):
        for sample in m.stats.error_samples:
            rows.append(f"error: {sample}")
    return rows


def database_summary(url: str) -> tuple[int, str]:
    """The number of taps stored, and a line on what the database holds after the run."""
    sys.path.insert(0, str(ROOT))
    from server.store.models import Tap, Visit

    engine = create_engine(url)
    try:
        with engine.connect() as db:
            taps = db.scalar(select(func.count()).select_from(Tap)) or 0
            visits = db.scalar(select(func.count()).select_from(Visit))
            open_ = db.scalar(
                select(func.count()).select_from(Visit).where(Visit.checked_out_at.is_(None))
            )
            by_outcome = {
                outcome.value: n
                for outcome, n in db.execute(
                    select(Tap.outcome, func.count()).group_by(Tap.outcome)
                )
            }
    finally:
        engine.dispose()
    return taps, f"database after the run: {taps} taps {by_outcome}, {visits} visits ({open_} open)"


# -- main -------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=4, help="client threads")
    parser.add_argument(
        "--batch", type=int, nargs="+", default=[1, 50], help="taps per upload (each a workload)"
    )
    parser.add_argument("--duration", type=float, default=15.0, help="seconds on /api/v1/taps")
    parser.add_argument(
        "--bare-duration", type=float, default=8.0, help="seconds on the bare route"
    )
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before each window")
    parser.add_argument("--max-uploads", type=int, default=50_000, help="per window")
    parser.add_argument("--no-clock", action="store_true", help="send no kiosk clock")
    parser.add_argument(
        "--no-history", action="store_true", help="skip the first tap per member before measuring"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--postgres-url",
        default="",
        help="also run on PostgreSQL (a fresh database on this server), with --processes",
    )
    parser.add_argument("--processes", type=int, default=4, help="server processes on PostgreSQL")
    args = parser.parse_args()
    if args.members < 1 or args.concurrency < 1 or min(args.batch) < 1:
        parser.error("members, concurrency and batch sizes must be positive")
    if TAP_STEP * args.members <= 60:
        parser.error("too few members: each member's taps would fall within the debounce")
    return args


@dataclass
class Servers:
    """The server processes of one setup, and what the first one arranged."""

    name: str
    processes: list[subprocess.Popen[bytes]]
    logs: list[Path]
    bases: list[str]
    info: dict[str, Any]
    database_url: str


@dataclass
class CpuUse:
    """CPU seconds used so far by the server processes, PostgreSQL and this process."""

    servers: float
    database: float
    clients: float

    def since(self, before: CpuUse) -> CpuUse:
        return CpuUse(
            self.servers - before.servers,
            self.database - before.database,
            self.clients - before.clients,
        )

    def line(self, seconds: float) -> str:
        shares = (self.servers, self.database, self.clients)
        servers, database, clients = (f"{100 * used / seconds:.0f}" for used in shares)
        return f"servers {servers}, PostgreSQL {database}, clients {clients}"


def _processes() -> dict[int, tuple[int, str, float]]:
    """pid -> (parent pid, command name, CPU seconds), from /proc (Linux)."""
    tick = os.sysconf("SC_CLK_TCK")
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        found[int(entry.name)] = (int(fields[1]), name, (int(fields[11]) + int(fields[12])) / tick)
    return found


def cpu_use(setup: Servers) -> CpuUse:
    """What the setup's server processes (and their workers), PostgreSQL's processes and
    this process have used so far (0 where /proc is not there)."""
    if not Path("/proc/self/stat").exists():
        return CpuUse(0.0, 0.0, 0.0)
    table = _processes()
    ours = {process.pid for process in setup.processes}
    grew = True
    while grew:  # their children, and theirs
        more = {pid for pid, (parent, _n, _c) in table.items() if parent in ours} - ours
        grew = bool(more)
        ours |= more
    mine = os.times()
    return CpuUse(
        sum(table[pid][2] for pid in ours if pid in table),
        sum(cpu for _p, name, cpu in table.values() if name.startswith("postgres")),
        mine.user + mine.system,
    )


@contextmanager
def servers(
    folder: Path, args: argparse.Namespace, name: str, count: int, database_url: str, redis_url: str
) -> Iterator[Servers]:
    """`count` server processes on one database: the first arranges, the others serve."""
    started = Servers(name, [], [], [], {}, database_url)
    # A kiosk per client thread, as at a door with several (one kiosk uploads one at a time).
    extra = ["--kiosks", str(args.concurrency)]
    extra += ["--database-url", database_url] if database_url else []
    extra += ["--redis-url", redis_url] if redis_url else []
    try:
        for n in range(count):
            port = free_port()
            more = ["--serve-only"] if n else []
            process, log = start_server(folder, port, args.members, extra + more, f"{name}-{n}")
            started.processes.append(process)
            started.logs.append(log)
            started.bases.append(f"http://127.0.0.1:{port}")
            info = wait_ready(process, log, started.bases[-1])
            if n == 0:
                started.info = info
        if not database_url:
            started.database_url = f"sqlite:///{started.info['database']}"
        yield started
    finally:
        for process in started.processes:
            stop_server(process)


def run_workloads(
    args: argparse.Namespace,
    setup: Servers,
    sessions: list[requests.Session],
    stop: threading.Event,
) -> tuple[int, dict[int, float]]:
    """The history, then each batch size on the real endpoint and the bare route; prints
    the tables, checks the log; returns the failures and taps/s by batch size."""
    print(f"-- {setup.name} --\n", flush=True)
    failed, sent_ok, rates = 0, 0, {}
    auth = [
        {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        for token in setup.info["tokens"]
    ]
    ours = Target("/api/v1/taps", [f"{base}/api/v1/taps" for base in setup.bases], auth, real=True)
    bare = Target("/bench/bare", [f"{base}/bench/bare" for base in setup.bases], auth, real=False)
    real_stream = TapStream(args.members, clock=not args.no_clock, wrap=False)
    bare_stream = TapStream(args.members, clock=not args.no_clock, wrap=True)
    if not args.no_history:
        # One tap per member first, so every measured tap meets a member with a past
        # visit (the replay path of a running site), not a first-ever check-in.
        size = min(200, args.members)
        history, _ = measure(
            ours, real_stream, size, sessions, 120.0, -(-args.members // size), stop
        )
        failed += history.stats.errors
        sent_ok += history.stats.taps
        print(
            f"history: {history.stats.taps} taps ({dict(history.stats.outcomes)}) sent "
            f"in {history.elapsed:.1f} s before measuring, not counted below\n",
            flush=True,
        )
    for batch in args.batch:
        results: dict[str, tuple[Measurement, float]] = {}
        cpu = CpuUse(0.0, 0.0, 0.0)
        for target, stream, seconds in (
            (ours, real_stream, args.duration),
            (bare, bare_stream, args.bare_duration),
        ):
            warm, _ = measure(target, stream, batch, sessions, args.warmup, args.max_uploads, stop)
            before = cpu_use(setup)
            results[target.name] = measure(
                target, stream, batch, sessions, seconds, args.max_uploads, stop
            )
            used = cpu_use(setup).since(before)
            failed += warm.stats.errors + results[target.name][0].stats.errors
            for sample in warm.stats.error_samples:
                print(f"error during the warm-up: {sample}")
            if target.real:
                sent_ok += warm.stats.taps + results[target.name][0].stats.taps
            if target.real:
                cpu = used
        (mine, mine_started), (theirs, _) = results[ours.name], results[bare.name]
        rates[batch] = mine.rate(mine.stats.taps)
        print("\n".join(report(batch, mine, mine_started, theirs)))
        print(f"CPU on /api/v1/taps, % of one core: {cpu.line(mine.elapsed)}")
        print(flush=True)
    for process, log in zip(setup.processes, setup.logs, strict=True):
        if process.poll() is not None:
            print("a server stopped during the run:\n" + tail(log), file=sys.stderr)
            return failed + 1, rates
    print(f"taps acknowledged to the clients (history and warm-ups included): {sent_ok}")
    stored, summary = database_summary(setup.database_url)
    print(summary + "\n")
    if stored != sent_ok:
        print(f"MISMATCH: {stored} taps stored, {sent_ok} acknowledged", file=sys.stderr)
        failed += 1
    return failed, rates


def main() -> int:
    args = parse_args()
    # A plain `kill` stops us as Ctrl+C does: through the finally below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    folder = Path(tempfile.mkdtemp(prefix="presence-bench-"))
    stop = threading.Event()
    failed = 0
    rates: dict[str, dict[int, float]] = {}
    sessions = [requests.Session() for _ in range(args.concurrency)]
    try:
        with servers(folder, args, "sqlite", 1, "", "") as sqlite:
            print_header(args, sqlite.info, folder)
            more, rates["sqlite"] = run_workloads(args, sqlite, sessions, stop)
            failed += more
        if args.postgres_url:
            with ExitStack() as stack:
                redis_url = stack.enter_context(private_redis(folder))
                database_url = stack.enter_context(fresh_database(args.postgres_url))
                name = f"postgres-{args.processes}"
                setup = stack.enter_context(
                    servers(folder, args, name, args.processes, database_url, redis_url)
                )
                setup.name = f"PostgreSQL, {args.processes} processes"
                more, rates["postgres"] = run_workloads(args, setup, sessions, stop)
                failed += more
            print(f"PostgreSQL with {args.processes} processes / SQLite with 1, taps/s:")
            for batch in args.batch:
                pg, lite = rates["postgres"][batch], rates["sqlite"][batch]
                print(f"  batch {batch:>3}: {pg:8.1f} / {lite:8.1f} = {ratio(pg, lite)}")
            print(
                f"  (one machine: {os.cpu_count()} CPUs shared by the {args.concurrency} client "
                "threads, the server processes, PostgreSQL and Redis)"
            )
        if "sqlite" in rates and set(args.batch) >= {1, 50}:
            one, fifty = rates["sqlite"][1], rates["sqlite"][50]
            print(
                f"SQLite, batch 50 / batch 1, taps/s: {fifty:.1f} / {one:.1f} = {ratio(fifty, one)}"
            )
    except KeyboardInterrupt:
        print("\ninterrupted: stopping the servers", file=sys.stderr)
        return 130
    except RuntimeError as error:
        print(error, file=sys.stderr)
        return 2
    finally:
        stop.set()
        for http in sessions:
            http.close()
        if args.keep:
            print(f"kept {folder} (server logs, data/presence.db)")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    if failed:
        print(f"FAILED: {failed} request(s) failed or got an unexpected answer", file=sys.stderr)
        return 1
    print("all requests succeeded")
    return 0


if __name__ == "__main__":
    sys.exit(main())
