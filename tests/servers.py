"""Real server processes for tests: `presence serve` on a free loopback port.

Each test that stops, restarts or breaks a server starts its own, never a shared one.
"""

from __future__ import annotations

import functools
import itertools
import os
import queue
import random
import resource
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

import requests
import socketio

#: This run of the suite, in the names it uses on the shared servers (a PostgreSQL
#: database, a Redis channel): two runs side by side never touch each other's data.
RUN = f"{os.getpid()}_{uuid.uuid4().hex[:8]}"
#: The Socket.IO channel of this run's servers on the shared Redis (publish/subscribe
#: channels are the same for every database number of a Redis server).
REDIS_CHANNEL = f"presence-test-{RUN}"


def wait_for(condition: Any, timeout: float = 20, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


#: Ports for the servers tests start: below Linux's ephemeral range (32768-60999), where
#: the kernel picks the local ports of outgoing connections. A port asked of the kernel
#: with bind(0) comes from that range, and between our probe and the server's own bind,
#: a client socket of a test running beside us could take it.
_PORTS = itertools.count(20_000 + random.randrange(12_000))


def free_port() -> int:
    """A loopback port nobody listens on, from this run's own walk through 20000-31999."""
    while True:
        port = 20_000 + (next(_PORTS) - 20_000) % 12_000
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


def write_config(
    folder: Path, database_url: str, *, port: int, redis_url: str = "", extra: str = ""
) -> Path:
    """A config.toml for one server process; processes that share `folder`'s secret agree."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / f"config-{port}.toml"
    config.write_text(
        f'[server]\ndata_dir = "{folder / "data"}"\ndatabase_url = "{database_url}"\n'
        f'secret_key = "test-secret"\nredis_url = "{redis_url}"\nport = {port}\n'
        f'redis_channel = "{REDIS_CHANNEL}"\n{extra}',
        encoding="utf-8",
    )
    return config


def presence(config: Path, *args: str, stdin: str | None = None) -> str:
    """Run a `presence` command against `config`; its output, or fail with its errors."""
    result = subprocess.run(
        [sys.executable, "-m", "presence", "--config", str(config), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


EVERY_DAY = "mon-sun 00:00-23:59"


def arrange_cantine(config: Path) -> tuple[str, str]:
    """A site open all day, Bruno (first name shown) with a badge; kiosk and board keys."""
    presence(config, "sites", "add", "La Cantine", "--slug", "cantine", "--hours", EVERY_DAY)
    presence(
        config,
        "members",
        "add",
        "--given-name",
        "Bruno",
        "--email",
        "bruno@example.org",
        "--visibility",
        "first_name",
    )
    presence(config, "badges", "assign", "bruno@example.org", "04A224B2C35A80")
    kiosk = presence(config, "kiosks", "add", "porte", "--site", "cantine").strip()
    link = presence(config, "sites", "board-link", "cantine").strip()
    return kiosk, link.split("token=")[1]


class Process:
    """A `presence` subcommand in its own process group, up once `ready_url` answers.

    `file_size_limit` (bytes) stands for a full disk: no file the process writes may
    grow past it (RLIMIT_FSIZE; Python ignores SIGXFSZ, so such a write fails with EFBIG
    instead of killing it) until `lift_file_size_limit()`, which stands for the staff
    freeing space.
    """

    def __init__(
        self,
        config: Path,
        command: str,
        ready_url: str,
        env: dict[str, str] | None = None,
        file_size_limit: int | None = None,
        program: tuple[str, ...] = ("-m", "presence"),
    ) -> None:
        self.config, self.command, self.ready_url = config, command, ready_url
        self.program = program  # what Python runs: the `presence` CLI, or a script around it
        self.env = {**os.environ, **(env or {})}
        self.file_size_limit = file_size_limit
        self.log_path = config.with_suffix(f".{command}.log")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> Self:
        limit = None
        if self.file_size_limit is not None:
            # Only the soft limit: the process's owner may raise it again from outside.
            limits = (self.file_size_limit, resource.RLIM_INFINITY)
            limit = functools.partial(resource.setrlimit, resource.RLIMIT_FSIZE, limits)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, *self.program, "--config", str(self.config), self.command],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: see stop()
                preexec_fn=limit,
            )
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop(kill=True)  # a process that never got ready is not left running
            raise
        return self

    def _wait_ready(self, timeout: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while True:
            try:
                if requests.get(self.ready_url, timeout=2).status_code == 200:
                    return
            # The port may accept connections before the worker answers them: gunicorn's
            # master listens while its worker still builds the app.
            except (requests.ConnectionError, requests.Timeout):
                pass
            assert self.process.poll() is None, self.log()
            assert time.monotonic() < deadline, f"no answer on {self.ready_url} in {timeout} s"
            time.sleep(0.1)

    def stop(self, *, kill: bool = False) -> None:
        """Stop it: SIGTERM (graceful) or SIGKILL (a crash).

        A crash kills the whole process group: gunicorn's worker would otherwise outlive
        its killed master for a moment, still answering on the port.
        """
        if self.process is None:
            return
        if kill:
            os.killpg(self.process.pid, signal.SIGKILL)
        else:
            self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            # Hung (a test that failed with it stuck): killed, so that no process outlives
            # its test, and said, since a graceful stop was what the test asked for.
            os.kill(self.process.pid, signal.SIGUSR1)  # a stack dump, if it registered one
            time.sleep(1)
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
            self.process = None
            raise AssertionError(f"`presence {self.command}` did not stop on SIGTERM") from None
        self.process = None

    def lift_file_size_limit(self) -> None:
        """Let the running process write files of any size again (space was freed)."""
        assert self.process is not None
        unlimited = (resource.RLIM_INFINITY, resource.RLIM_INFINITY)
        resource.prlimit(self.process.pid, resource.RLIMIT_FSIZE, unlimited)
        self.file_size_limit = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


class ServerProcess(Process):
    """`presence serve` on `port`."""

    def __init__(self, config: Path, port: int) -> None:
        self.port, self.base = port, f"http://127.0.0.1:{port}"
        super().__init__(config, "serve", f"{self.base}/healthz")


def post_tap(base: str, kiosk_token: str, badge: str, kind: str = "nfc") -> dict[str, Any]:
    """Tap `badge` now through the kiosk API; the tap's answer (outcome, name, ...)."""
    tap = {
        "id": str(uuid.uuid4()),
        "badge": badge,
        "badge_kind": kind,
        "read_at": datetime.now(UTC).isoformat(),
    }
    response = requests.post(
        f"{base}/api/v1/taps",
        json={"taps": [tap]},
        headers={"Authorization": f"Bearer {kiosk_token}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["results"][0]
    return result


class KioskProcess(Process):
    """`presence kiosk`, its page on `page_port`."""

    def __init__(
        self,
        config: Path,
        page_port: int,
        env: dict[str, str] | None = None,
        file_size_limit: int | None = None,
        program: tuple[str, ...] = ("-m", "presence"),
    ) -> None:
        self.page = f"http://127.0.0.1:{page_port}"
        super().__init__(config, "kiosk", f"{self.page}/state", env, file_size_limit, program)

    def state(self) -> dict[str, Any]:
        found: dict[str, Any] = requests.get(f"{self.page}/state", timeout=5).json()["state"]
        return found


class SimulatedDevice:
    """The device end of the kiosk's simulated reader: presents badges on a local socket
    and hears what became of each; closing the socket is unplugging the reader."""

    def __init__(self) -> None:
        self.port = free_port()
        self.listener: socket.socket | None = None
        self.connection: socket.socket | None = None
        self.replug()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def replug(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", self.port), reuse_port=True)

    def unplug(self) -> None:
        if self.connection is not None:
            self.reader.close()  # the file object holds the socket open too
            self.connection.shutdown(socket.SHUT_RDWR)
            self.connection.close()
        if self.listener is not None:
            self.listener.close()
        self.connection = self.listener = None

    def connected(self, timeout: float = 30) -> socket.socket:
        """The kiosk's connection; waits `timeout` for the kiosk to open the reader."""
        if self.connection is None:
            assert self.listener is not None, "the device is unplugged"
            self.listener.settimeout(timeout)
            self.connection, _ = self.listener.accept()
            self.connection.settimeout(30)
            self.reader = self.connection.makefile("r", encoding="utf-8")
        return self.connection

    def present(self, badge: str, kind: str = "nfc", timeout: float = 30) -> str:
        """Present a badge; the kiosk's reply: `ok <tap id>`, `repeat` or `error ...`.

        Raises TimeoutError if no kiosk has the reader open within `timeout`, and
        ConnectionError if the kiosk went away after the badge was presented.
        """
        connection = self.connected(timeout)
        try:
            connection.sendall(f"{kind}:{badge}\n".encode())
            reply = self.reader.readline()
        except OSError as error:
            reply, cause = "", error
        else:
            cause = None
        if not reply:
            self.reader.close()
            connection.close()
            self.connection = None
            raise ConnectionError("the kiosk closed the reader") from cause
        return reply.strip()


class Board:
    """A board as a program: a real Socket.IO client on the websocket transport.

    `http_session` carries TLS settings (a test CA) to the websocket too."""

    def __init__(
        self, base: str, site: str, token: str, http_session: requests.Session | None = None
    ) -> None:
        self.events: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        options = {"http_session": http_session} if http_session is not None else {}
        self.client = socketio.Client(reconnection=False, **options)
        for name in ("state", "change"):
            self.client.on(name, self._keep(name), namespace="/board")
        self.client.connect(
            base,
            namespaces=["/board"],
            auth={"site": site, "token": token},
            transports=["websocket"],
            wait_timeout=15,
        )

    def _keep(self, name: str) -> Any:
        return lambda data: self.events.put((name, data))

    def next(self, name: str, timeout: float = 20) -> dict[str, Any]:
        """The data of the next `name` event (earlier events of other names are skipped)."""
        while True:
            event, data = self.events.get(timeout=timeout)
            if event == name:
                return data

    def close(self) -> None:
        self.client.disconnect()
