"""An event night and a saturation run against real servers, beside bare Flask endpoints.

    .venv/bin/python bench/bench_load.py                    # both setups, about 7 minutes
    .venv/bin/python bench/bench_load.py --setups sqlite    # one process on SQLite only
    .venv/bin/python bench/bench_load.py --burst-seconds 300  # the 5-minute event night

Two setups, one after the other, each on fresh data:

- `sqlite`: one server process (gunicorn, its gevent worker) on SQLite, what a Cantine
  runs on a Raspberry Pi or a small server;
- `postgres`: `--workers` server processes on one PostgreSQL database (a new database
  created for the run on `--postgres-url`, dropped after it) sharing a Redis message
  queue (a private `redis-server` on a free port unless `--redis-url` is given).

Each server is bench/_server.py: the real app, plus `POST /bench/bare` (parses the JSON
body, nothing else) and `POST /bench/bare-emit` (hands the body to Socket.IO for the
site's boards: Flask-SocketIO's own cost, through Redis in the second setup).

1. **Event night.** `--boards` board clients (python-socketio, websocket transport, as
   the browser board) connect, spread over the processes. `--arrivals` members arrive
   within `--burst-seconds`, most of them shortly before the talk starts (a triangular
   distribution peaking at 60 % of the window, fixed seed), each at one of `--kiosks`
   doors. Each door posts its taps one upload at a time, like a kiosk's uploader, to the
   process it is assigned to; a bare door beside it posts the same number of bodies to
   `/bench/bare-emit` at the same moments. Printed: upload latency (p50/p95/p99), the time
   from the moment of the tap to each board getting the card, the same for the bare emit,
   errors and missed deliveries.
2. **Saturation.** `--senders` clients post one-tap uploads as fast as they can for
   `--saturation-seconds` (members not yet in, so each tap is a check-in), with
   `--saturation-boards` boards connected, then the same clients post to `/bench/bare`
   and to `/bench/bare-emit` for `--bare-seconds` each. Printed: taps/s, latency,
   tap-to-board latency, and the ratios.
3. **The log.** Every tap the server acknowledged must be in the `taps` table exactly
   once, and nothing else; every member who arrived must be present.

The exit status is 1 if any request failed, a board missed a message or the log check
failed; 2 if a setup could not start. Figures and caveats: docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import shutil
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import aiohttp
import socketio
from sqlalchemy import create_engine, func, select

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _stack import (  # noqa: E402
    free_port,  # noqa: E402
    fresh_database,
    private_redis,
)
from bench_taps import start_server, stop_server, tail, wait_ready  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from server.store.models import Tap, Visit  # noqa: E402

CONNECT_AT_ONCE = 25
DRAIN_SECONDS = 15.0  # after the last post, how long boards may take to get it
REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=60)
#: gunicorn closes an idle keep-alive connection after 2 s; a client that reuses one
#: later races that close ("Server disconnected"). Kiosks retry such an upload; here it
#: would count as an error of the server, so idle connections are dropped first.
KEEPALIVE_SECONDS = 1.0


# -- measuring ----------------------------------------------------------------------------


def percentile(values: list[float], q: int) -> float:
    """The q-th percentile (median for 50), in the unit of `values`; nan when empty."""
    if not values:
        return float("nan")
    if q == 50:
        return statistics.median(values)
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


@dataclass
class Series:
    """What one path (our taps, or a bare endpoint) did in one phase."""

    name: str
    latencies: list[float] = field(default_factory=list)  # ms per successful upload
    taps: int = 0
    errors: int = 0
    samples: list[str] = field(default_factory=list)
    sent_at: dict[str, float] = field(default_factory=dict)  # marker -> moment of the tap
    elapsed: float = 0.0
    client_cpu: float = 0.0  # share of one CPU this process (the clients) used meanwhile

    def fail(self, message: str) -> None:
        self.errors += 1
        if len(self.samples) < 3:
            self.samples.append(message[:300])

    def row(self) -> str:
        rate = self.taps / self.elapsed if self.elapsed else float("nan")
        return (
            f"  {self.name:<22}{self.taps:>8}{rate:>9.1f}"
            + "".join(f"{percentile(self.latencies, q):>9.1f}" for q in (50, 95, 99))
            + f"{self.errors:>8}"
            + (f"{self.client_cpu:>12.0%}" if self.client_cpu else "")
        )


class Boards:
    """Board clients of one site, noting when each marked message reaches each board."""

    def __init__(self) -> None:
        self.clients: list[socketio.AsyncClient] = []
        self.received: dict[str, list[float]] = defaultdict(list)

    def _on_change(self, data: dict[str, Any]) -> None:
        now = time.perf_counter()
        marker = data.get("bench") or (data.get("put") or {}).get("name")
        if marker:
            self.received[marker].append(now)

    async def connect(self, bases: list[str], count: int, site: str, token: str) -> None:
        async def one(base: str) -> None:
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

        for start in range(0, count, CONNECT_AT_ONCE):
            batch = range(start, min(count, start + CONNECT_AT_ONCE))
            await asyncio.gather(*(one(bases[i % len(bases)]) for i in batch))

    async def close(self) -> None:
        await asyncio.gather(*(client.disconnect() for client in self.clients))
        self.clients.clear()

    def delays(self, path: Series) -> tuple[list[float], int]:
        """Tap-to-board delays in ms of `path`'s messages, and the deliveries missed."""
        delays: list[float] = []
        missed = 0
        for marker, sent in path.sent_at.items():
            got = self.received.get(marker, [])
            delays += [(at - sent) * 1000 for at in got]
            missed += max(0, len(self.clients) - len(got))
        return delays, missed


def board_row(name: str, delays: list[float], missed: int) -> str:
    worst = max(delays) if delays else float("nan")
    return (
        f"  {name:<22}{len(delays):>8}"
        + "".join(f"{percentile(delays, q):>9.1f}" for q in (50, 95, 99))
        + f"{worst:>9.1f}{missed:>8}"
    )


# -- the doors ----------------------------------------------------------------------------


@dataclass
class Door:
    """One kiosk token and the process its uploads go to."""

    base: str
    token: str


def client_session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        timeout=REQUEST_TIMEOUT,
        connector=aiohttp.TCPConnector(keepalive_timeout=KEEPALIVE_SECONDS),
    )


def tap_body(member: int) -> dict[str, Any]:
    return {
        "taps": [
            {
                "id": str(uuid.uuid4()),
                "badge": f"04{member:012X}",
                "badge_kind": "nfc",
                "read_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            }
        ]
    }


async def post_tap(
    http: aiohttp.ClientSession, door: Door, member: int, path: Series, acked: set[str]
) -> None:
    """Upload one tap of `member` through `door`; note its latency and its acknowledgement."""
    body = tap_body(member)
    marker = f"Member{member}"
    path.sent_at[marker] = time.perf_counter()
    started = time.perf_counter()
    try:
        async with http.post(
            f"{door.base}/api/v1/taps",
            json=body,
            headers={"Authorization": f"Bearer {door.token}"},
        ) as response:
            answer = await response.json(content_type=None)
            status = response.status
    except (aiohttp.ClientError, TimeoutError, ValueError) as error:
        path.fail(f"{type(error).__name__}: {error}")
        return
    elapsed = (time.perf_counter() - started) * 1000
    results = answer.get("results") if isinstance(answer, dict) else None
    if status != 200 or not results or results[0].get("outcome") != "checked_in":
        path.fail(f"HTTP {status}: {str(answer)[:200]}")
        return
    acked.add(body["taps"][0]["id"])
    path.latencies.append(elapsed)
    path.taps += 1


async def post_bare(
    http: aiohttp.ClientSession, base: str, route: str, marker: str, path: Series
) -> None:
    """One body of a tap upload's size to a bare route (`bare-emit` sends it to the boards)."""
    body = {**tap_body(0), "bench": marker}
    path.sent_at[marker] = time.perf_counter()
    started = time.perf_counter()
    try:
        async with http.post(f"{base}/bench/{route}", json=body) as response:
            answer = await response.json(content_type=None)
            status = response.status
    except (aiohttp.ClientError, TimeoutError, ValueError) as error:
        path.fail(f"{type(error).__name__}: {error}")
        return
    if status != 200 or answer != {"status": "ok"}:
        path.fail(f"HTTP {status}: {str(answer)[:200]}")
        return
    path.latencies.append((time.perf_counter() - started) * 1000)
    path.taps += 1


# -- the phases ---------------------------------------------------------------------------


def arrival_schedule(arrivals: int, seconds: float, doors: int, seed: int) -> list[list[float]]:
    """Per door, the sorted moments (s from the start) its members tap."""
    rng = random.Random(seed)
    per_door: list[list[float]] = [[] for _ in range(doors)]
    for _ in range(arrivals):
        per_door[rng.randrange(doors)].append(rng.triangular(0, seconds, 0.6 * seconds))
    return [sorted(moments) for moments in per_door]


async def event_night(
    setup: Setup, args: argparse.Namespace, acked: set[str]
) -> tuple[Series, Series, Boards]:
    """`args.arrivals` check-ins through the doors while `args.boards` boards watch."""
    boards = Boards()
    await boards.connect(setup.bases, args.boards, setup.site, setup.display_token)
    ours, bare = Series("tap upload"), Series("bare-emit")
    schedule = arrival_schedule(args.arrivals, args.burst_seconds, len(setup.doors), args.seed)
    members = iter(range(args.arrivals))
    plan = [[(moment, next(members)) for moment in moments] for moments in schedule]
    try:
        async with client_session() as http:
            start = time.perf_counter()

            async def door(index: int) -> None:
                # A kiosk sends its taps one upload at a time, in reading order.
                for moment, member in plan[index]:
                    await asyncio.sleep(max(0.0, start + moment - time.perf_counter()))
                    await post_tap(http, setup.doors[index], member, ours, acked)

            async def bare_door(index: int) -> None:
                base = setup.doors[index].base
                for moment, member in plan[index]:
                    await asyncio.sleep(max(0.0, start + moment - time.perf_counter()))
                    await post_bare(http, base, "bare-emit", f"bare-{member}", bare)

            doors = range(len(setup.doors))
            await asyncio.gather(*(door(i) for i in doors), *(bare_door(i) for i in doors))
            ours.elapsed = bare.elapsed = time.perf_counter() - start
            await settle(boards, [ours, bare])
    finally:
        await boards.close()
    return ours, bare, boards


async def settle(boards: Boards, paths: list[Series]) -> None:
    """Wait until every board has every message, or DRAIN_SECONDS."""
    deadline = time.perf_counter() + DRAIN_SECONDS
    while time.perf_counter() < deadline:
        if all(boards.delays(path)[1] == 0 for path in paths):
            return
        await asyncio.sleep(0.2)


async def saturation(
    setup: Setup, args: argparse.Namespace, acked: set[str]
) -> tuple[Series, Series, Series, Boards]:
    """Senders posting as fast as they can: our taps, then the bare routes."""
    boards = Boards()
    await boards.connect(setup.bases, args.saturation_boards, setup.site, setup.display_token)
    members = iter(range(args.arrivals, args.members))
    ours = Series("tap upload")
    plain, emit = Series("bare"), Series("bare-emit")
    try:
        async with client_session() as http:

            async def window(seconds: float, send: Callable[[int], Any], path: Series) -> None:
                start, cpu = time.perf_counter(), time.process_time()
                stop = start + seconds

                async def sender(index: int) -> None:
                    while time.perf_counter() < stop:
                        await send(index)

                await asyncio.gather(*(sender(i) for i in range(args.senders)))
                path.elapsed = time.perf_counter() - start
                path.client_cpu = (time.process_time() - cpu) / path.elapsed

            def door(index: int) -> Door:
                return setup.doors[index % len(setup.doors)]

            async def tap(index: int) -> None:
                member = next(members, None)
                if member is None:
                    raise SystemExit("saturation ran out of members: raise --members")
                await post_tap(http, door(index), member, ours, acked)

            counter = iter(range(10**9))
            await window(args.saturation_seconds, tap, ours)
            await settle(boards, [ours])
            await window(
                args.bare_seconds,
                lambda i: post_bare(http, door(i).base, "bare", f"plain-{next(counter)}", plain),
                plain,
            )
            plain.sent_at.clear()  # /bench/bare sends nothing to the boards
            await window(
                args.bare_seconds,
                lambda i: post_bare(http, door(i).base, "bare-emit", f"emit-{next(counter)}", emit),
                emit,
            )
            await settle(boards, [emit])
    finally:
        await boards.close()
    return ours, plain, emit, boards


# -- the setups ---------------------------------------------------------------------------


@dataclass
class Setup:
    name: str
    description: str
    bases: list[str]
    doors: list[Door]
    site: str
    display_token: str
    database_url: str


def launch(
    stack: ExitStack,
    folder: Path,
    args: argparse.Namespace,
    workers: int,
    extra: list[str],
) -> tuple[list[str], dict[str, Any]]:
    """Start `workers` bench servers (the first arranges the data); their URLs and its info."""
    bases: list[str] = []
    info: dict[str, Any] = {}
    for n in range(workers):
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        more = ["--serve-only"] if n else ["--kiosks", str(args.kiosks)]
        process, log = start_server(folder, port, args.members, [*extra, *more], name=f"server-{n}")
        stack.callback(stop_server, process)
        found = wait_ready(process, log, base)
        info = info or found
        bases.append(base)
    return bases, info


def doors_of(bases: list[str], tokens: list[str]) -> list[Door]:
    """Kiosk n posts to process n mod the number of processes."""
    return [Door(bases[n % len(bases)], token) for n, token in enumerate(tokens)]


@contextmanager
def sqlite_setup(args: argparse.Namespace, folder: Path) -> Iterator[Setup]:
    with ExitStack() as stack:
        bases, info = launch(stack, folder, args, 1, ["--visibility", "first_name"])
        yield Setup(
            "sqlite",
            "1 process (gunicorn gevent worker), SQLite (WAL, synchronous=FULL)",
            bases,
            doors_of(bases, info["tokens"]),
            info["site"],
            info["display_token"],
            info["database_url"],
        )


@contextmanager
def postgres_setup(args: argparse.Namespace, folder: Path) -> Iterator[Setup]:
    with ExitStack() as stack:
        redis_url = args.redis_url or stack.enter_context(private_redis(folder))
        database_url = stack.enter_context(fresh_database(args.postgres_url))
        bases, info = launch(
            stack,
            folder,
            args,
            args.workers,
            ["--visibility", "first_name", "--database-url", database_url]
            + ["--redis-url", redis_url],
        )
        yield Setup(
            "postgres",
            f"{args.workers} processes (gunicorn gevent worker each), "
            f"PostgreSQL, Redis message queue ({redis_url})",
            bases,
            doors_of(bases, info["tokens"]),
            info["site"],
            info["display_token"],
            database_url,
        )


SETUPS = {"sqlite": sqlite_setup, "postgres": postgres_setup}


# -- the log ------------------------------------------------------------------------------


def check_log(database_url: str, acked: set[str], arrivals: int) -> tuple[bool, str]:
    """Every acknowledged tap in the log once and nothing else; everyone who came is in."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            stored = [str(tap_id) for tap_id in connection.scalars(select(Tap.tap_id))]
            present = connection.scalar(
                select(func.count()).select_from(Visit).where(Visit.checked_out_at.is_(None))
            )
    finally:
        engine.dispose()
    unique = set(stored)
    twice = len(stored) - len(unique)
    lost = len(acked - unique)
    unknown = len(unique - acked)
    ok = not (twice or lost or unknown) and present == len(acked)
    line = (
        f"{len(acked)} taps acknowledged, {len(stored)} in the log: {lost} lost, {twice} "
        f"twice, {unknown} never acknowledged; {present} members present "
        f"(expected {len(acked)}, of whom {arrivals} from the event night)"
    )
    return ok, line


# -- running ------------------------------------------------------------------------------


def run_setup(setup: Setup, args: argparse.Namespace) -> tuple[bool, dict[str, float]]:
    print(f"== {setup.name}: {setup.description}", flush=True)
    acked: set[str] = set()
    ours, bare, boards = asyncio.run(event_night(setup, args, acked))
    head = f"  {'':<22}{'count':>8}{'per s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
    print(
        f"event night: {args.arrivals} arrivals in {args.burst_seconds:g} s through "
        f"{len(setup.doors)} kiosks, {args.boards} boards connected"
    )
    print(head + f"{'errors':>8}")
    print(ours.row())
    print(bare.row())
    tap_delays, bare_delays, burst_missed = print_boards(head, boards, ours, bare)
    print(
        f"  ratio p50 upload {ratio(ours.latencies, bare.latencies)}, "
        f"p50 to board {ratio(tap_delays, bare_delays)}"
    )
    for sample in ours.samples + bare.samples:
        print(f"  error: {sample}")

    sat, plain, emit, sat_boards = asyncio.run(saturation(setup, args, acked))
    print(
        f"saturation: {args.senders} senders, one tap per upload, {args.saturation_seconds:g} s "
        f"(bare routes {args.bare_seconds:g} s each), {args.saturation_boards} boards connected"
    )
    print(head + f"{'errors':>8}{'client CPU':>12}")
    for path in (sat, plain, emit):
        print(path.row())
    print_boards(head, sat_boards, sat, emit)
    rate = sat.taps / sat.elapsed
    print(
        f"  ratio taps/s (ours / bare) {rate / (plain.taps / plain.elapsed):.2f}, "
        f"(ours / bare-emit) {rate / (emit.taps / emit.elapsed):.2f}; "
        f"p50 upload (ours / bare) {ratio(sat.latencies, plain.latencies)}"
    )
    for sample in sat.samples + plain.samples + emit.samples:
        print(f"  error: {sample}")

    ok, line = check_log(setup.database_url, acked, args.arrivals)
    print(f"log: {line}{'' if ok else '  FAILED'}", flush=True)
    errors = sum(path.errors for path in (ours, bare, sat, plain, emit))
    missed = burst_missed + sat_boards.delays(sat)[1] + sat_boards.delays(emit)[1]
    figures = {
        "burst p50": percentile(ours.latencies, 50),
        "burst p99": percentile(ours.latencies, 99),
        "board p50": percentile(tap_delays, 50),
        "board p99": percentile(tap_delays, 99),
        "taps/s": rate,
        "bare/s": plain.taps / plain.elapsed,
        "errors": errors,
        "missed": missed,
    }
    return ok and not errors and not missed, figures


def print_boards(
    head: str, boards: Boards, ours: Series, bare: Series
) -> tuple[list[float], list[float], int]:
    """Print when the boards got our messages and the bare ones; both delays, and the
    deliveries missed."""
    ours_delays, ours_missed = boards.delays(ours)
    bare_delays, bare_missed = boards.delays(bare)
    print(head + f"{'max ms':>9}{'missed':>8}")
    print(board_row("tap -> board", ours_delays, ours_missed))
    print(board_row("bare-emit -> board", bare_delays, bare_missed))
    return ours_delays, bare_delays, ours_missed + bare_missed


def ratio(ours: list[float], bare: list[float]) -> str:
    a, b = percentile(ours, 50), percentile(bare, 50)
    return f"{a / b:.1f}x" if b and b == b and a == a else "-"


def print_header(args: argparse.Namespace) -> None:
    names = ("flask", "flask-socketio", "python-socketio", "sqlalchemy", "gunicorn", "aiohttp")
    libraries = ", ".join(f"{name} {metadata.version(name)}" for name in names)
    print("Présence load benchmark")
    print(f"  machine   {platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}")
    print(f"  python    {platform.python_version()}; {libraries}")
    print(
        f"  data      {args.members} members with an NFC badge, shown by first name; "
        f"{args.kiosks} toggle kiosks; 1 site open all day"
    )
    print(
        "  clients   this process (asyncio): aiohttp for the kiosks, python-socketio "
        "AsyncClient (websocket) for the boards, on the same CPUs as the servers"
    )
    print()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--setups", nargs="+", choices=list(SETUPS), default=list(SETUPS))
    parser.add_argument("--arrivals", type=int, default=500)
    parser.add_argument("--burst-seconds", type=float, default=120.0)
    parser.add_argument("--kiosks", type=int, default=4)
    parser.add_argument("--boards", type=int, default=200)
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--saturation-seconds", type=float, default=20.0)
    parser.add_argument("--bare-seconds", type=float, default=10.0)
    parser.add_argument("--saturation-boards", type=int, default=4)
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "PRESENCE_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
        ),
        help="a database to connect to while creating the run's own",
    )
    parser.add_argument("--redis-url", default="", help="default: a private redis-server")
    parser.add_argument("--keep", action="store_true", help="keep the folder with the logs")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    print_header(args)
    all_ok = True
    summary: dict[str, dict[str, float]] = {}
    for name in args.setups:
        folder = Path(tempfile.mkdtemp(prefix=f"presence-load-{name}-"))
        started = time.perf_counter()
        try:
            with SETUPS[name](args, folder) as setup:
                ok, summary[name] = run_setup(setup, args)
                all_ok &= ok
        except (RuntimeError, OSError) as error:
            print(f"{name}: could not start: {error}")
            for log in sorted(folder.glob("*.log")):
                print(f"--- {log.name}\n{tail(log)}")
            return 2
        finally:
            if args.keep:
                print(f"  kept {folder}")
            else:
                shutil.rmtree(folder, ignore_errors=True)
        print(f"  ({time.perf_counter() - started:.0f} s)\n", flush=True)
    print_summary(summary)
    return 0 if all_ok else 1


def print_summary(summary: dict[str, dict[str, float]]) -> None:
    keys: tuple[str, ...] = ("burst p50", "burst p99", "board p50", "board p99", "taps/s", "bare/s")
    keys += ("errors", "missed")
    print("summary (ms, except taps/s)")
    print(f"  {'setup':<10}" + "".join(f"{key:>11}" for key in keys))
    for name, figures in summary.items():
        print(f"  {name:<10}" + "".join(f"{figures[key]:>11.1f}" for key in keys))


if __name__ == "__main__":
    sys.exit(main())
