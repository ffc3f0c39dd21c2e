"""Capacity of one server process: boards, dashboards, taps and probes, then a restart.

    .venv/bin/python bench/bench_capacity.py [--boards 1000] [--dashboards 200] [--seconds 30]

Starts bench/_server.py (the real app in gunicorn, one gevent worker, on 127.0.0.1, a
fresh SQLite database, members shown by first name, a staff account), checks `--present`
members in (every board's state names them) and, in this process, connects `--boards`
wall boards to the site's `/board` namespace and `--dashboards` staff dashboards to
`/staff` (python-socketio's asyncio client on the websocket transport; the dashboards
send the session cookie of one staff log-in made through the login form). While they
are all connected, a second process uploads one tap at a time at `--rate` per second as
a kiosk (members in turn, checking in and out) and GETs `/healthz` at `--probe-rate` per
second, for `--seconds`. It prints the latencies, the time from each tap's POST to each
board receiving its message, and the worker's memory before and after the clients
connected. Then it stops the server (SIGTERM) with the boards connected, starts a new
one on the same port and data (`--serve-only`), and once it answers /healthz has every
board connect again at once: the time until all are back and the refusals. Exit status
0 when every target is met, 1 otherwise, 2 if the server did not start. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import multiprocessing
import os
import platform
import random
import re
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import requests
import socketio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _stack import free_port  # noqa: E402
from bench_board import CONNECT_AT_ONCE, pct  # noqa: E402
from bench_taps import start_server, stop_server, wait_ready  # noqa: E402

#: The same on the log-in request and the sockets: Flask-Login's "strong" session
#: protection ties the session to the address and the User-Agent.
USER_AGENT = "presence-bench-capacity"
CONNECT_TIMEOUT = 20.0  # seconds for one client's connection (and its first state)
CONNECT_PHASE_LIMIT = 90.0  # seconds for all the boards and dashboards to connect
DRAIN = 10.0  # seconds left for the last messages to reach every board
STORM_LIMIT = 30.0  # seconds after the new server answers that the boards keep trying
#: A member's taps are this far apart in read_at: well past the 60 s debounce, so every
#: tap checks someone in or out.
MEMBER_EVERY = 90.0

# Targets
PROBE_P95_MS = 100.0
UPLOAD_P95_MS = 100.0
FANOUT_P95_MS = 250.0
STORM_SECONDS = 10.0


# -- the server process, seen from /proc -----------------------------------------------


def raise_fd_limit() -> tuple[int, int, int]:
    """Our open-file limit up to the hard limit (inherited by the server we start)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if wanted > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return soft, resource.getrlimit(resource.RLIMIT_NOFILE)[0], hard


def worker_pid(master: int) -> int | None:
    """The gunicorn worker: the child of the server process (found through /proc)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so split after its ")".
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == master:
            return int(entry)
    return None


def rss_kb(pid: int | None) -> int:
    if pid is None:
        return 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def open_files(pid: int | None) -> str:
    """Open descriptors and the open-file limit of a process, as /proc shows them."""
    if pid is None:
        return "?"
    try:
        count = len(os.listdir(f"/proc/{pid}/fd"))
        limits = Path(f"/proc/{pid}/limits").read_text()
    except OSError:
        return "?"
    found = re.search(r"Max open files\s+(\S+)\s+(\S+)", limits)
    limit = f"{found[1]} (hard {found[2]})" if found else "?"
    return f"{count} open, limit {limit}"


def find_worker(master: int) -> int | None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pid = worker_pid(master)
        if pid is not None:
            return pid
        time.sleep(0.1)
    return None


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time a process has used (/proc/PID/stat), 0 if unknown."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuSampler:
    """The worker's and this process's CPU time, sampled every 0.2 s in the event loop."""

    def __init__(self, worker: int | None) -> None:
        self.worker = worker
        self.samples: list[tuple[float, float, float]] = []
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        async def sample() -> None:
            while True:
                self.samples.append(
                    (time.monotonic(), cpu_seconds(self.worker), time.process_time())
                )
                await asyncio.sleep(0.2)

        self.task = asyncio.create_task(sample())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)

    def share(self, start: float, end: float) -> tuple[float, float]:
        """Percent of one core used by the worker and by this process from start to end."""
        inside = [s for s in self.samples if start <= s[0] <= end]
        if len(inside) < 2:
            return float("nan"), float("nan")
        (t0, w0, o0), (t1, w1, o1) = inside[0], inside[-1]
        return 100 * (w1 - w0) / (t1 - t0), 100 * (o1 - o0) / (t1 - t0)


def log_errors(log: Path) -> int:
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return 0
    return sum(1 for line in text.splitlines() if "Traceback" in line or " ERROR " in line)


class LogCounter(logging.Handler):
    """Counts the client libraries' warnings instead of printing one per socket."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        self.seen[f"{record.name}: {record.getMessage()}"[:100]] += 1

    def install(self) -> None:
        # Set before the first client: python-socketio then adds no printing handler.
        for name in ("engineio.client", "socketio.client"):
            logger = logging.getLogger(name)
            logger.setLevel(logging.WARNING)
            logger.propagate = False
            logger.addHandler(self)

    def report(self) -> None:
        for message, count in self.seen.most_common(5):
            print(f"  client log  {count} x {message}")
        self.seen.clear()


CLIENT_LOG = LogCounter()


# -- the staff log-in --------------------------------------------------------------------


def check_in_present(base: str, token: str, first: int, count: int) -> str:
    """Members first..first+count-1 check in, in one upload: the people the boards' state
    shows when they connect (and reconnect). What went wrong, or ""."""
    if count <= 0:
        return ""
    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    body = {
        "taps": [
            {"id": str(uuid.uuid4()), "badge": badge(member), "read_at": now}
            for member in range(first, first + count)
        ]
    }
    answer = requests.post(
        f"{base}/api/v1/taps",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    if answer.status_code != 200:
        return f"HTTP {answer.status_code}: {answer.text[:200]}"
    outcomes = Counter(result.get("outcome") for result in answer.json()["results"])
    return "" if outcomes["checked_in"] == count else f"outcomes {dict(outcomes)}"


def staff_cookie(base: str, email: str, password: str) -> str:
    """Log in once through the staff form; the Cookie header every dashboard sends."""
    with requests.Session() as http:
        http.headers["User-Agent"] = USER_AGENT
        page = http.get(f"{base}/staff/login", timeout=10)
        found = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page.text)
        if found is None:
            raise RuntimeError("no CSRF token in the staff login form")
        answer = http.post(
            f"{base}/staff/login",
            data={"email": email, "password": password, "csrf_token": found[1]},
            allow_redirects=False,
            timeout=30,
        )
        if answer.status_code != 302:
            raise RuntimeError(f"staff login: HTTP {answer.status_code}")
        cookie = "; ".join(f"{name}={value}" for name, value in http.cookies.items())
        # The session works: the dashboard answers instead of sending us to the log-in.
        check = http.get(f"{base}/staff/", allow_redirects=False, timeout=10)
        if check.status_code != 200:
            raise RuntimeError(f"staff dashboard after login: HTTP {check.status_code}")
        return cookie


# -- the socket clients ------------------------------------------------------------------


@dataclass
class Receipts:
    """What the boards got: each board message's receipt times, by its number."""

    times: dict[int, list[float]] = field(default_factory=dict)
    #: seq -> ("in", first name) for a card put up, ("out", card key) for one taken down.
    what: dict[int, tuple[str, str]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)  # card key -> first name

    def on_change(self, data: Any) -> None:
        now = time.monotonic()
        seq = data.get("seq") if isinstance(data, dict) else None
        if not isinstance(seq, int):
            return
        got = self.times.get(seq)
        if got is not None:
            got.append(now)
            return
        self.times[seq] = [now]
        put = data.get("put")
        if isinstance(put, dict):
            self.what[seq] = ("in", str(put.get("name")))
            self.names[str(put.get("key"))] = str(put.get("name"))
        elif "drop" in data:
            self.what[seq] = ("out", str(data["drop"]))


def refusal_reason(data: Any) -> tuple[bool, str]:
    """(refused by the server's namespace, why) from a connect_error's data."""
    if isinstance(data, dict) and "message" in data:
        return True, str(data["message"])
    return False, str(data)


class Client:
    """One board or dashboard socket (a new python-socketio client after a timeout)."""

    def __init__(
        self,
        namespace: str,
        handlers: dict[str, Callable[..., None]],
        headers: dict[str, str] | None = None,
    ) -> None:
        self.namespace = namespace
        self.handlers = handlers
        self.headers = headers
        self.state = asyncio.Event()
        self.last_error: tuple[bool, str] | None = None
        self.disconnected_at: float | None = None
        self.changed = 0  # dashboards: `changed` notices received
        self.up = False  # connected in the first phase
        self.people = 0  # the names in the last state received
        self.client = self._build()

    def _build(self) -> socketio.AsyncClient:
        # Headers given here reach the websocket handshake as they are (given to
        # connect(), a Cookie header would go through aiohttp's jar, which keeps no
        # cookie for an IP address).
        options = {"headers": dict(self.headers)} if self.headers else None
        client = socketio.AsyncClient(reconnection=False, websocket_extra_options=options)
        client.on("connect_error", self._on_error, namespace=self.namespace)
        client.on("disconnect", self._on_disconnect, namespace=self.namespace)
        client.on("state", self._on_state, namespace=self.namespace)
        for event, handler in self.handlers.items():
            client.on(event, handler, namespace=self.namespace)
        return client

    def _on_error(self, data: Any = None) -> None:
        self.last_error = refusal_reason(data)

    def _on_disconnect(self, *_reason: Any) -> None:
        self.disconnected_at = time.monotonic()

    def _on_state(self, data: Any = None) -> None:
        if isinstance(data, dict):
            self.people = len(data.get("people") or ())
        self.state.set()

    async def connect(self, base: str, auth: dict[str, Any] | None, wait_state: bool) -> str:
        """ "" when connected (and, for a board, its state received) within
        CONNECT_TIMEOUT, else why not: "refused: <reason>" from the server's namespace,
        "failed: <error>" otherwise."""
        self.state.clear()
        self.last_error = None
        self.disconnected_at = None
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                await self.client.connect(
                    base,
                    namespaces=[self.namespace],
                    auth=auth,
                    transports=["websocket"],
                    wait_timeout=CONNECT_TIMEOUT,
                )
                if wait_state:
                    await self.state.wait()
        except TimeoutError:
            await self.close()
            self.client = self._build()
            return f"failed: no answer within {CONNECT_TIMEOUT:g} s"
        except Exception as error:  # connection errors of every layer: counted, not fatal
            if self.last_error is not None and self.last_error[0]:
                return f"refused: {self.last_error[1]}"
            return f"failed: {self.last_error[1] if self.last_error else type(error).__name__}"
        return ""

    async def close(self) -> None:
        try:
            async with asyncio.timeout(2):
                if self.client.connected:
                    await self.client.disconnect()
        except Exception:  # closing anyway
            pass
        # The engine.io client's own aiohttp session, left open by a server's disconnect.
        http = getattr(self.client.eio, "http", None)
        if http is not None and not http.closed:
            await http.close()


class Crowd:
    """Every board and dashboard of the run, in this process's event loop."""

    def __init__(self, base: str, info: dict[str, Any], boards: int, dashboards: int) -> None:
        self.base = base
        self.auth = {"site": info["site"], "token": info["display_token"]}
        self.receipts = Receipts()
        handlers = {"change": self.receipts.on_change}
        self.boards = [Client("/board", handlers) for _ in range(boards)]
        self.dashboards: list[Client] = []
        self.dashboard_count = dashboards

    def add_dashboards(self, cookie: str) -> None:
        headers = {"Cookie": cookie, "User-Agent": USER_AGENT}
        for _ in range(self.dashboard_count):
            dashboard = Client("/staff", {}, headers)
            dashboard.handlers["changed"] = self._counted(dashboard)
            dashboard.client.on("changed", dashboard.handlers["changed"], namespace="/staff")
            self.dashboards.append(dashboard)

    @staticmethod
    def _counted(dashboard: Client) -> Callable[..., None]:
        def changed(_data: Any = None) -> None:
            dashboard.changed += 1

        return changed

    async def connect_in_waves(
        self, clients: list[Client], board: bool, give_up: float
    ) -> Counter[str]:
        """Connect `clients` CONNECT_AT_ONCE at a time, as bench_board does, until the
        monotonic time `give_up`."""
        outcomes: Counter[str] = Counter()
        for start in range(0, len(clients), CONNECT_AT_ONCE):
            if time.monotonic() > give_up:
                outcomes[f"not tried (over {CONNECT_PHASE_LIMIT:g} s)"] += len(clients) - start
                break
            wave = clients[start : start + CONNECT_AT_ONCE]
            results = await asyncio.gather(
                *(c.connect(self.base, self.auth if board else None, board) for c in wave)
            )
            for client, result in zip(wave, results, strict=True):
                outcomes[result or "connected"] += 1
                client.up = not result
        return outcomes

    async def storm(
        self, boards: list[Client], deadline: float
    ) -> tuple[list[float], Counter[str]]:
        """The boards connect at once; refused or failed, it tries again like board.js
        (after 1-5 s when told `busy`, 1 s after an error here) until `deadline`."""
        attempts: Counter[str] = Counter()

        async def one(board: Client) -> float | None:
            while True:
                result = await board.connect(self.base, self.auth, True)
                if not result:
                    return time.monotonic()
                attempts[result] += 1
                if time.monotonic() > deadline:
                    return None
                busy = result == "refused: busy"
                await asyncio.sleep(1 + random.random() * 4 if busy else 1.0)

        done = await asyncio.gather(*(one(board) for board in boards))
        return [at for at in done if at is not None], attempts

    async def close(self) -> None:
        await asyncio.gather(*(client.close() for client in [*self.boards, *self.dashboards]))


# -- the kiosk and the prober (a second process) ---------------------------------------


def badge(member: int) -> str:
    """Member `member`'s badge as a reader gives it (the server normalises it)."""
    raw = f"04{member:012X}"
    return ":".join(raw[i : i + 2] for i in range(0, len(raw), 2)).lower()


def kiosk_and_prober(plan: dict[str, Any], out: str) -> None:
    """Run in a process of its own: the kiosk's uploads, one at a time at a steady rate,
    and the /healthz probes, each in its thread; the results go to the file `out`."""
    base, members = plan["base"], plan["members"]
    step = MEMBER_EVERY / members  # read_at step: a member's turn every MEMBER_EVERY s
    taps = int(plan["rate"] * (plan["warmup"] + plan["seconds"]))
    probes = int(plan["probe_rate"] * (plan["warmup"] + plan["seconds"]))
    first_read = time.time() - taps * step - 60  # no read_at in the future
    started = time.monotonic() + 0.5
    results: dict[str, list[dict[str, Any]]] = {"taps": [], "probes": []}

    def kiosk() -> None:
        with requests.Session() as http:
            http.headers["Authorization"] = f"Bearer {plan['token']}"
            for index in range(taps):
                member = index % members
                read = first_read + index * step
                body = {
                    "taps": [
                        {
                            "id": str(uuid.uuid4()),
                            "badge": badge(member),
                            "read_at": datetime.fromtimestamp(read, UTC).isoformat(
                                timespec="milliseconds"
                            ),
                        }
                    ]
                }
                encoded = json.dumps(body)
                due = started + index / plan["rate"]
                time.sleep(max(0.0, due - time.monotonic()))
                sent = time.monotonic()
                outcome, status = "", 0
                try:
                    answer = http.post(
                        f"{base}/api/v1/taps",
                        data=encoded,
                        headers={"Content-Type": "application/json"},
                        timeout=10,
                    )
                    ms = (time.monotonic() - sent) * 1000
                    status = answer.status_code
                    if status == 200:
                        outcome = answer.json()["results"][0].get("outcome", "?")
                except (requests.RequestException, ValueError, KeyError, IndexError) as error:
                    ms = (time.monotonic() - sent) * 1000
                    outcome = f"error: {error!r}"[:120]
                results["taps"].append(
                    {
                        "name": f"Member{member}",
                        "sent": sent,
                        "ms": ms,
                        "status": status,
                        "outcome": outcome,
                        "warm": sent < started + plan["warmup"],
                    }
                )

    def prober() -> None:
        with requests.Session() as http:
            for index in range(probes):
                due = started + index / plan["probe_rate"]
                time.sleep(max(0.0, due - time.monotonic()))
                sent = time.monotonic()
                try:
                    status = http.get(f"{base}/healthz", timeout=10).status_code
                except requests.RequestException:
                    status = 0
                ms = (time.monotonic() - sent) * 1000
                warm = sent < started + plan["warmup"]
                results["probes"].append({"ms": ms, "status": status, "warm": warm})

    threads = [threading.Thread(target=kiosk), threading.Thread(target=prober)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    summary = {"started": started, "ended": time.monotonic(), "cpu": time.process_time()}
    Path(out).write_text(json.dumps({**results, **summary}))


# -- figures -----------------------------------------------------------------------------


@dataclass
class Check:
    name: str
    passed: bool
    figure: str


def figures(values: list[float]) -> str:
    if not values:
        return f"{0:>7} {'-':>8} {'-':>8} {'-':>8}"
    ordered = sorted(values)
    return (
        f"{len(ordered):>7} {pct(ordered, 50):>8.1f} {pct(ordered, 95):>8.1f} {ordered[-1]:>8.1f}"
    )


def p95(values: list[float]) -> float:
    return pct(sorted(values), 95) if values else float("inf")


def mb(kb: int) -> str:
    return f"{kb / 1024:.1f} MB"


def per_client(delta_kb: int, count: int) -> str:
    return f"{delta_kb / count:.1f} KB each" if count else "-"


def outcomes_line(outcomes: Counter[str]) -> str:
    return ", ".join(f"{count} {what}" for what, count in sorted(outcomes.items()))


def match_taps(
    taps: list[dict[str, Any]], receipts: Receipts
) -> tuple[list[tuple[dict[str, Any], int | None]], int]:
    """Each tap that changed the board with the message it caused: the k-th check-in
    (check-out) of a member sent is the k-th message putting up (taking down) their card.
    Also how many messages were left over."""
    queues: dict[tuple[str, str], deque[int]] = defaultdict(deque)
    for seq in sorted(receipts.what):
        kind, ident = receipts.what[seq]
        name = ident if kind == "in" else receipts.names.get(ident, "?")
        queues[(kind, name)].append(seq)
    matched: list[tuple[dict[str, Any], int | None]] = []
    for tap in taps:
        change = {"checked_in": "in", "checked_out": "out"}.get(tap["outcome"])
        if change is None:
            continue
        queue = queues.get((change, tap["name"]))
        matched.append((tap, queue.popleft() if queue else None))
    return matched, sum(len(queue) for queue in queues.values())


# -- the run -----------------------------------------------------------------------------


@dataclass
class Run:
    args: argparse.Namespace
    folder: Path
    port: int
    base: str
    checks: list[Check] = field(default_factory=list)
    servers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def check(self, name: str, passed: bool, figure: str) -> None:
        self.checks.append(Check(name, passed, figure))


async def connect_phase(run: Run, crowd: Crowd, master: int, cookie: str) -> int:
    """Boards then dashboards; memory before and after. Returns the worker's pid."""
    worker = find_worker(master)
    before = rss_kb(worker)
    print(
        f"1. Connections (python-socketio AsyncClient, websocket, waves of {CONNECT_AT_ONCE})",
        flush=True,
    )
    started, worker_cpu, own_cpu = time.monotonic(), cpu_seconds(worker), time.process_time()
    give_up = time.monotonic() + CONNECT_PHASE_LIMIT
    outcomes = await crowd.connect_in_waves(crowd.boards, True, give_up)
    boards_ok = outcomes["connected"]
    worker_cpu, own_cpu = cpu_seconds(worker) - worker_cpu, time.process_time() - own_cpu
    print(
        f"  boards      {boards_ok}/{len(crowd.boards)} connected in "
        f"{time.monotonic() - started:.1f} s (CPU: worker {worker_cpu:.1f} s, "
        f"{1000 * worker_cpu / max(1, boards_ok):.1f} ms a board; this process {own_cpu:.1f} s); "
        f"{outcomes_line(outcomes)}",
        flush=True,
    )
    people = max((board.people for board in crowd.boards), default=0)
    print(f"  board state {people} people named in the state each board receives on connecting")
    after_boards = rss_kb(worker)
    crowd.add_dashboards(cookie)
    started = time.monotonic()
    dash_outcomes = await crowd.connect_in_waves(crowd.dashboards, False, give_up)
    dashboards_ok = dash_outcomes["connected"]
    print(
        f"  dashboards  {dashboards_ok}/{len(crowd.dashboards)} connected in "
        f"{time.monotonic() - started:.1f} s; {outcomes_line(dash_outcomes)}"
    )
    await asyncio.sleep(1)  # the last greenlets settle before reading the memory
    after_all = rss_kb(worker)
    print(f"  worker      pid {worker}; files: {open_files(worker)}")
    print("2. Memory of the gunicorn worker (RSS, /proc)")
    print(f"  before clients    {mb(before):>10}")
    print(
        f"  after boards      {mb(after_boards):>10}  +{mb(after_boards - before)}, "
        f"{per_client(after_boards - before, boards_ok)} ({boards_ok} boards)"
    )
    print(
        f"  after dashboards  {mb(after_all):>10}  +{mb(after_all - after_boards)}, "
        f"{per_client(after_all - after_boards, dashboards_ok)} ({dashboards_ok} dashboards)"
    )
    total = boards_ok + dashboards_ok
    print(
        f"  all clients       {mb(after_all - before):>10}  {per_client(after_all - before, total)}"
        f" ({total} sockets)",
        flush=True,
    )
    run.check(
        "every board and dashboard connected",
        boards_ok == len(crowd.boards) and dashboards_ok == len(crowd.dashboards),
        f"{boards_ok}/{len(crowd.boards)} boards, {dashboards_ok}/{len(crowd.dashboards)} "
        "dashboards",
    )
    return worker or 0


async def load_phase(run: Run, crowd: Crowd, info: dict[str, Any], worker: int) -> None:
    args = run.args
    out = run.folder / "kiosk.json"
    plan = {
        "base": run.base,
        "token": info["token"],
        "members": args.members,
        "rate": args.rate,
        "probe_rate": args.probe_rate,
        "seconds": args.seconds,
        "warmup": args.warmup,
    }
    board_set = [b for b in crowd.boards if b.up]
    boards = len(board_set)
    print(
        f"3. Load: {args.warmup:g} s warm-up, then {args.seconds:g} s measured; a kiosk "
        f"uploads 1 tap at a time at {args.rate:g}/s ({args.members} members in turn, "
        f"read_at {MEMBER_EVERY / args.members:.2f} s apart), /healthz probed at "
        f"{args.probe_rate:g}/s, from a second process",
        flush=True,
    )
    process = multiprocessing.get_context("spawn").Process(
        target=kiosk_and_prober, args=(plan, str(out)), daemon=True
    )
    sampler = CpuSampler(worker)
    sampler.start()
    process.start()
    try:
        await asyncio.to_thread(process.join, args.warmup + args.seconds + 120)
    finally:
        await sampler.stop()
        if process.is_alive():
            process.terminate()
    if not out.exists():
        raise RuntimeError("the kiosk process gave no results")
    results = json.loads(out.read_text())
    taps: list[dict[str, Any]] = results["taps"]
    probes: list[dict[str, Any]] = results["probes"]
    expected = sum(1 for t in taps if t["outcome"] in ("checked_in", "checked_out"))
    # The last messages reach every board (or DRAIN runs out).
    deadline = time.monotonic() + DRAIN
    while time.monotonic() < deadline:
        complete = all(len(times) >= boards for times in crowd.receipts.times.values())
        if len(crowd.receipts.what) >= expected and complete:
            break
        await asyncio.sleep(0.1)
    rss = rss_kb(worker)

    measured = [t for t in taps if not t["warm"]]
    upload_ms = [t["ms"] for t in measured if t["status"] == 200]
    upload_errors = [t for t in measured if t["status"] != 200]
    probe_ms = [p["ms"] for p in probes if not p["warm"] and p["status"] == 200]
    probe_errors = sum(1 for p in probes if not p["warm"] and p["status"] != 200)
    matched, extra = match_taps(taps, crowd.receipts)
    deliveries: list[float] = []
    last_board: list[float] = []
    missed = 0
    unmatched = 0
    for tap, seq in matched:
        if tap["warm"]:
            continue
        if seq is None:
            unmatched += 1
            missed += boards
            continue
        delays = [(at - tap["sent"]) * 1000 for at in crowd.receipts.times[seq]]
        deliveries.extend(delays)
        last_board.append(max(delays))
        missed += max(0, boards - len(delays))
    span = (measured[-1]["sent"] - measured[0]["sent"]) if len(measured) > 1 else 0.0
    rate = (len(measured) - 1) / span if span else 0.0
    dropped = sum(1 for b in board_set if b.disconnected_at is not None)
    outcomes = Counter(t["outcome"] for t in measured)
    print(f"  {'':<22} {'count':>7} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'errors':>7}")
    print(f"  {'GET /healthz':<22} {figures(probe_ms)} {probe_errors:>7}")
    print(f"  {'POST /api/v1/taps':<22} {figures(upload_ms)} {len(upload_errors):>7}")
    print(f"  {'tap -> each board':<22} {figures(deliveries)} {missed:>7}  (missed)")
    print(f"  {'tap -> last board':<22} {figures(last_board)}")
    print(f"  uploads {rate:.2f}/s achieved; outcomes: {outcomes_line(outcomes)}")
    print(
        f"  board messages: {len(matched)} taps changed the board ({unmatched} without a "
        f"message seen), {extra} messages matched no tap; {boards} boards listening, "
        f"{dropped} dropped during the load"
    )
    changed = [d.changed for d in crowd.dashboards if d.up]
    if changed:
        print(
            f"  dashboards: `changed` notices received per dashboard min {min(changed)}, "
            f"max {max(changed)} (for {expected} taps, warm-up included)"
        )
    worker_cpu, own_cpu = sampler.share(results["started"], results["ended"])
    kiosk_cpu = 100 * results["cpu"] / (results["ended"] - results["started"])
    print(
        f"  CPU during the load (% of one core): worker {worker_cpu:.0f}%, this process (boards, "
        f"dashboards) {own_cpu:.0f}%, kiosk + prober process {kiosk_cpu:.0f}% (its start "
        "included)"
    )
    print(f"  worker RSS after the load: {mb(rss)}", flush=True)
    for tap in upload_errors[:3]:
        print(f"  upload error: HTTP {tap['status']} {tap['outcome']}")
    run.check(
        "/healthz p95 < 100 ms, all 200",
        p95(probe_ms) < PROBE_P95_MS and not probe_errors,
        f"p95 {p95(probe_ms):.1f} ms, {probe_errors} errors",
    )
    run.check(
        "upload p95 < 100 ms, all 200",
        p95(upload_ms) < UPLOAD_P95_MS and not upload_errors,
        f"p95 {p95(upload_ms):.1f} ms, {len(upload_errors)} errors",
    )
    run.check(
        "fan-out p95 < 250 ms",
        p95(deliveries) < FANOUT_P95_MS,
        f"p95 {p95(deliveries):.1f} ms over {len(deliveries)} deliveries",
    )
    run.check("no board missed a message", missed == 0 and bool(deliveries), f"{missed} missed")


def probe_until(base: str, stop: threading.Event, latencies: list[float]) -> None:
    """GET /healthz every 0.2 s until `stop`; the answered ones' latencies (ms)."""
    with requests.Session() as http:
        while not stop.is_set():
            sent = time.monotonic()
            try:
                if http.get(f"{base}/healthz", timeout=30).status_code == 200:
                    latencies.append((time.monotonic() - sent) * 1000)
            except requests.RequestException:
                pass
            stop.wait(max(0.0, sent + 0.2 - time.monotonic()))


async def restart_phase(run: Run, crowd: Crowd) -> None:
    """SIGTERM with the boards connected, a new server on the same port and data, and
    every board connecting again at once once it answers /healthz."""
    args = run.args
    boards = [b for b in crowd.boards if b.up]
    print(
        f"4. Restart: SIGTERM with {len(boards)} boards connected, a new server "
        "(--serve-only, same port and data), then every board connects at once",
        flush=True,
    )
    old = run.servers[-1]
    term = time.monotonic()
    await asyncio.to_thread(stop_server, old)
    exited = time.monotonic() - term
    await asyncio.sleep(0.5)  # the last close frames
    gone = [b.disconnected_at for b in boards if b.disconnected_at is not None]
    left = max(gone) - term if gone else float("nan")
    print(
        f"  old server    exited {exited:.2f} s after SIGTERM (status {old.returncode}); "
        f"{len(gone)}/{len(boards)} boards told to disconnect, the last {left:.2f} s after"
    )
    for dashboard in crowd.dashboards:  # not part of the storm: closed quietly
        if dashboard.client.connected:
            await dashboard.client.disconnect()
    process, log = start_server(
        run.folder,
        run.port,
        args.members + args.present,
        ["--serve-only", "--visibility", "first_name"],
        name="server2",
    )
    run.servers.append(process)
    try:
        await asyncio.to_thread(wait_ready, process, log, run.base)
    except RuntimeError as error:
        print(f"  new server did not start: {error}")
        run.check("all boards back within 10 s", False, "the new server did not start")
        run.check("no board refused by the new server", False, "-")
        return
    ready = time.monotonic()
    worker = find_worker(process.pid)
    rss_before = rss_kb(worker)
    print(
        f"  new server    answers /healthz {ready - term:.2f} s after the SIGTERM "
        f"({ready - term - exited:.2f} s after the old one exited); worker RSS {mb(rss_before)}",
        flush=True,
    )
    worker_cpu, own_cpu = cpu_seconds(worker), time.process_time()
    probing = threading.Event()
    probes: list[float] = []
    prober = threading.Thread(target=probe_until, args=(run.base, probing, probes))
    prober.start()
    try:
        back, attempts = await crowd.storm(boards, ready + STORM_LIMIT)
    finally:
        probing.set()
        await asyncio.to_thread(prober.join)
    storm_wall = time.monotonic() - ready
    worker_cpu = cpu_seconds(worker) - worker_cpu
    own_cpu = time.process_time() - own_cpu
    after = [(at - ready) for at in back]
    refused = sum(count for what, count in attempts.items() if what.startswith("refused"))
    failed = sum(count for what, count in attempts.items() if what.startswith("failed"))
    last = max(after) if after else float("inf")
    ordered = sorted(after)
    if ordered:
        print(
            f"  storm         {len(back)}/{len(boards)} boards connected again (state received, "
            f"{max(b.people for b in boards)} people named in it), the last {last:.2f} s after "
            f"/healthz answered; first {ordered[0]:.2f} s, "
            f"p50 {pct(ordered, 50):.2f} s, p95 {pct(ordered, 95):.2f} s"
        )
    else:
        print(f"  storm         0/{len(boards)} boards connected again")
    print(
        f"  refusals      {refused} by the new server, {failed} failed attempts"
        f"{': ' + outcomes_line(attempts) if attempts else ''}"
    )
    print(
        f"  CPU           from /healthz to the last board ({storm_wall:.2f} s): worker "
        f"{worker_cpu:.2f} s ({1000 * worker_cpu / max(1, len(back)):.1f} ms a board), this "
        f"process {own_cpu:.2f} s"
    )
    print(
        f"  /healthz      during the storm, every 0.2 s from a thread here: {len(probes)} "
        f"answered, p50 {pct(sorted(probes), 50) if probes else 0:.0f} ms, max "
        f"{max(probes, default=0):.0f} ms (not a target)"
    )
    await asyncio.sleep(1)
    print(
        f"  new worker    RSS {mb(rss_kb(worker))} with the boards back; files: "
        f"{open_files(worker)}; {log_errors(log)} error lines in its log",
        flush=True,
    )
    run.check(
        "all boards back within 10 s",
        len(back) == len(boards) and bool(boards) and last < STORM_SECONDS,
        f"{len(back)}/{len(boards)} in {last:.2f} s",
    )
    run.check(
        "no board refused by the new server",
        refused == 0 and failed == 0,
        f"{refused} refusals, {failed} failed attempts",
    )


async def scenario(run: Run, info: dict[str, Any], master: int, cookie: str) -> None:
    crowd = Crowd(run.base, info, run.args.boards, run.args.dashboards)
    try:
        worker = await connect_phase(run, crowd, master, cookie)
        CLIENT_LOG.report()
        await load_phase(run, crowd, info, worker)
        print(f"  first server log: {log_errors(run.folder / 'server.log')} error lines")
        CLIENT_LOG.report()
        await restart_phase(run, crowd)
    finally:
        await crowd.close()
        CLIENT_LOG.report()


def versions() -> str:
    found = []
    names = (
        "flask",
        "flask-socketio",
        "python-socketio",
        "python-engineio",
        "simple-websocket",
        "gunicorn",
        "gevent",
        "sqlalchemy",
        "aiohttp",
        "requests",
    )
    for name in names:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pass
    return ", ".join(found)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--boards", type=int, default=1000)
    parser.add_argument("--dashboards", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=30, help="measured load window")
    parser.add_argument("--warmup", type=float, default=2, help="load not counted, first")
    parser.add_argument("--rate", type=float, default=5, help="tap uploads per second")
    parser.add_argument("--probe-rate", type=float, default=5, help="/healthz GETs per second")
    parser.add_argument("--members", type=int, default=40, help="members tapping in turn")
    parser.add_argument(
        "--present",
        type=int,
        default=50,
        help="other members checked in before the boards connect (in every board's state)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the folder (logs, database)")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    load = os.getloadavg()
    was, soft, hard = raise_fd_limit()
    CLIENT_LOG.install()
    folder = Path(tempfile.mkdtemp(prefix="presence-bench-capacity-"))
    port = free_port()
    run = Run(args, folder, port, f"http://127.0.0.1:{port}")
    print("Présence capacity benchmark: one server process")
    print(
        f"  machine   {platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} "
        f"{platform.release()}; load average before start {load[0]:.2f} {load[1]:.2f} "
        f"{load[2]:.2f}"
    )
    print(f"  python    {platform.python_version()}, SQLite {sqlite3.sqlite_version}; {versions()}")
    print(
        f"  files     open-file limit of this process (and the server it starts) "
        f"{was} -> {soft} (hard {hard})"
    )
    print(
        f"  clients   {args.boards} boards + {args.dashboards} dashboards in this process "
        "(one asyncio loop); kiosk and prober in a second process; all on 127.0.0.1",
    )
    print(
        f"  site      {args.members} members tapping in turn, {args.present} others present "
        "from the start (all shown by first name)",
        flush=True,
    )
    process, log = start_server(
        folder, port, args.members + args.present, ["--visibility", "first_name", "--staff"]
    )
    run.servers.append(process)
    status = 1
    try:
        try:
            info = wait_ready(process, log, run.base)
            cookie = staff_cookie(run.base, info["staff_email"], info["staff_password"])
            problem = check_in_present(run.base, info["token"], args.members, args.present)
            if problem:
                raise RuntimeError(f"checking in the {args.present} present members: {problem}")
        except (RuntimeError, requests.RequestException) as error:
            print(f"FAILED: {error}")
            return 2
        print(
            f"  server    gunicorn gevent worker, 1 process, SQLite (WAL, synchronous=FULL), "
            f"no message queue; master pid {process.pid}; data in {folder}"
        )
        print(flush=True)
        asyncio.run(scenario(run, info, process.pid, cookie))
        print()
        print("Targets")
        for check in run.checks:
            print(f"  {'PASS' if check.passed else 'FAIL'}  {check.name:<38} {check.figure}")
        status = 0 if run.checks and all(check.passed for check in run.checks) else 1
        return status
    finally:
        for server in reversed(run.servers):
            stop_server(server)
        if args.keep or status != 0:
            logs = ", ".join(sorted(log.name for log in folder.glob("*.log")))
            print(f"kept {folder} ({logs}, data/presence.db)")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
