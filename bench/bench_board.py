"""Time from a tap POST to the boards receiving it, beside a bare Socket.IO emit.

    .venv/bin/python bench/bench_board.py [--boards 1 100 500] [--rounds 30]

Starts bench/_server.py (the real app in gunicorn, one gevent worker, on 127.0.0.1, a
fresh SQLite database, members shown by first name) and connects N board clients
(python-socketio's asyncio client on the websocket transport, the browser board's
transport) to the site's room. Then, round after round, it posts one check-in to
`/api/v1/taps` and, in the same round, one body to `/bench/bare-emit`, a route of the
same process that hands it straight to `socketio.emit` to the same room: no
authentication, database or board logic. For each, it records when every board got the
message. It prints, per number of boards, the per-delivery p50/p95/max, the p50 of the
last board to get it, and the ratio of our path to the bare emit. Exits 1 if a board
missed a message. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import signal
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import aiohttp
import socketio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _stack import free_port  # noqa: E402
from bench_taps import start_server, stop_server, wait_ready  # noqa: E402

WAIT = 15.0  # seconds a round may take before the board is counted as having missed it
CONNECT_AT_ONCE = 25


@dataclass
class Series:
    """Receipt delays (ms) of one path at one number of boards."""

    deliveries: list[float] = field(default_factory=list)
    last_board: list[float] = field(default_factory=list)
    answered: list[float] = field(default_factory=list)  # the POST's own response time
    missed: int = 0

    def line(self, name: str) -> str:
        if not self.deliveries:
            return f"  {name:<14} no deliveries"
        d = sorted(self.deliveries)
        return (
            f"  {name:<14} {len(d):>7} {pct(d, 50):>8.2f} {pct(d, 95):>8.2f} {d[-1]:>8.2f} "
            f"{statistics.median(self.last_board):>10.2f} {statistics.median(self.answered):>9.2f}"
            f" {self.missed:>6}"
        )


def pct(ordered: list[float], p: float) -> float:
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[int(p) - 1]


class Boards:
    """N board clients of one site, each noting when a marked message reaches it."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.clients: list[socketio.AsyncClient] = []
        self.waiting: dict[str, list[float]] = {}
        self.complete: dict[str, asyncio.Event] = {}

    def expect(self, marker: str) -> None:
        self.waiting[marker] = []
        self.complete[marker] = asyncio.Event()

    def _on_change(self, data: dict[str, Any]) -> None:
        now = time.perf_counter()
        marker = data.get("bench") or (data.get("put") or {}).get("name")
        got = self.waiting.get(marker or "")
        if got is not None:
            got.append(now)
            if len(got) == self.count:
                self.complete[marker or ""].set()

    async def connect(self, base: str, site: str, token: str) -> None:
        async def one() -> None:
            client = socketio.AsyncClient(reconnection=False)
            state = asyncio.Event()
            client.on("state", lambda _data: state.set(), namespace="/board")
            client.on("change", self._on_change, namespace="/board")
            await client.connect(
                base,
                namespaces=["/board"],
                auth={"site": site, "token": token},
                transports=["websocket"],
                wait_timeout=30,
            )
            await asyncio.wait_for(state.wait(), 30)
            self.clients.append(client)

        for start in range(0, self.count, CONNECT_AT_ONCE):
            await asyncio.gather(*(one() for _ in range(min(CONNECT_AT_ONCE, self.count - start))))

    async def close(self) -> None:
        await asyncio.gather(*(client.disconnect() for client in self.clients))


async def one_round(
    http: aiohttp.ClientSession, boards: Boards, url: str, body: Any, headers: Any, marker: str
) -> tuple[list[float], float, bool]:
    boards.expect(marker)
    started = time.perf_counter()
    async with http.post(url, json=body, headers=headers) as response:
        await response.read()
        answered = (time.perf_counter() - started) * 1000
        if response.status != 200:
            raise RuntimeError(f"{url}: {response.status} {await response.text()}")
    try:
        await asyncio.wait_for(boards.complete[marker].wait(), WAIT)
        complete = True
    except TimeoutError:
        complete = False
    delays = [(at - started) * 1000 for at in boards.waiting.pop(marker)]
    return delays, answered, complete


async def measure(
    base: str, info: dict[str, Any], count: int, rounds: int, warmup: int, first_member: int
) -> tuple[Series, Series, Series]:
    boards = Boards(count)
    await boards.connect(base, info["site"], info["display_token"])
    ours, bare, stored = Series(), Series(), Series()
    auth = {"Authorization": f"Bearer {info['token']}"}
    try:
        async with aiohttp.ClientSession() as http:
            for index in range(warmup + rounds):
                member = first_member + index
                tap = {
                    "taps": [
                        {
                            "id": str(uuid.uuid4()),
                            "badge": f"04{member:012X}",
                            "read_at": datetime.now(UTC).isoformat(),
                        }
                    ]
                }
                paths: list[tuple[Any, str, dict[str, Any] | None, dict[str, str], str]] = [
                    (ours, f"{base}/api/v1/taps", tap, auth, f"Member{member}"),
                    (bare, f"{base}/bench/bare-emit", None, {}, f"bare-{index}"),
                    (stored, f"{base}/bench/bare-insert-emit", None, {}, f"stored-{index}"),
                ]
                shift = index % len(paths)  # take turns going first
                paths = paths[shift:] + paths[:shift]
                for series, url, body, headers, marker in paths:
                    if body is None:
                        body = {"seq": 0, "bench": marker}
                    delays, answered, complete = await one_round(
                        http, boards, url, body, headers, marker
                    )
                    if index < warmup:
                        continue
                    series.missed += count - len(delays)
                    if delays:
                        series.deliveries.extend(delays)
                        series.last_board.append(max(delays) if complete else WAIT * 1000)
                        series.answered.append(answered)
    finally:
        await boards.close()
    return ours, bare, stored


def print_header(args: argparse.Namespace, pid: int) -> None:
    cpus = os.cpu_count()
    libraries = ", ".join(
        f"{name} {metadata.version(name)}"
        for name in ("flask-socketio", "python-socketio", "python-engineio", "simple-websocket")
    )
    print("Présence tap-to-board latency benchmark")
    print(f"  machine   {platform.machine()}, {cpus} CPUs, {platform.system()}")
    print(f"  python    {platform.python_version()}; {libraries}")
    print(
        "  server    gunicorn gevent worker, 1 process, async_mode gevent, "
        f"SQLite (WAL, synchronous=FULL), no message queue; master pid {pid}"
    )
    print(
        f"  boards    python-socketio AsyncClient, websocket transport, in this process; "
        f"{', '.join(map(str, args.boards))} boards"
    )
    print(
        f"  rounds    {args.warmup} warm-up + {args.rounds} measured per count; each round "
        "one check-in (a new member, shown by first name), one bare emit and one emit after "
        "a durable INSERT, taking turns going first"
    )
    print()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--boards", type=int, nargs="+", default=[1, 100, 500])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    folder = Path(tempfile.mkdtemp(prefix="presence-bench-board-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    members = (args.rounds + args.warmup) * len(args.boards) + 10
    process, log = start_server(folder, port, members, ["--visibility", "first_name"])
    missed = 0
    try:
        info = wait_ready(process, log, base)
        print_header(args, process.pid)
        head = f"  {'path':<14} {'deliv.':>7} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}"
        print(f"{head} {'last p50':>10} {'POST p50':>9} {'missed':>6}")
        next_member = 0
        for count in args.boards:
            ours, bare, stored = asyncio.run(
                measure(base, info, count, args.rounds, args.warmup, next_member)
            )
            next_member += args.rounds + args.warmup
            print(f"{count} board(s)")
            print(ours.line("tap -> board"))
            print(bare.line("bare emit"))
            print(stored.line("insert + emit"))
            for name, other in (("bare emit", bare), ("insert + emit", stored)):
                ratios = [
                    pct(sorted(ours.deliveries), q) / pct(sorted(other.deliveries), q)
                    if ours.deliveries and other.deliveries
                    else float("nan")
                    for q in (50, 95)
                ]
                print(f"  ratio p50 / p95 (tap / {name}): {ratios[0]:.1f}x / {ratios[1]:.1f}x")
            missed += ours.missed + bare.missed + stored.missed
    finally:
        stop_server(process)
    if missed:
        print(f"FAILED: {missed} deliveries missed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
