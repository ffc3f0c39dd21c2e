"""Private PostgreSQL and Redis servers for fault tests: each on a free loopback port, in a
folder of its own, stopped and restarted at will, and removed at the end.

The shared servers of the other tests (PRESENCE_TEST_POSTGRES_URL, PRESENCE_TEST_REDIS_URL)
must never be stopped by a test: these are started from the binaries instead, and a
missing binary skips the test with the reason (or fails it under PRESENCE_REQUIRE_ALL=1).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.servers import free_port

#: The user PostgreSQL runs as when the tests run as root (it refuses to run as root).
POSTGRES_USER = "postgres"


def require_binary(name: str, *folders: str) -> str:
    """The path of executable `name` (on PATH or in one of `folders`, globs allowed), else
    skip (or fail under PRESENCE_REQUIRE_ALL=1)."""
    for pattern in folders:
        for folder in sorted(glob.glob(pattern), reverse=True):  # the newest version first
            candidate = Path(folder) / name
            if os.access(candidate, os.X_OK):
                return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    reason = f"this test needs the `{name}` program (not found on PATH nor in {list(folders)})"
    if os.environ.get("PRESENCE_REQUIRE_ALL") == "1":
        pytest.fail(f"PRESENCE_REQUIRE_ALL=1 but {reason}")
    pytest.skip(reason)


def postgres_bindir() -> str:
    """The folder of PostgreSQL's server programs (initdb, pg_ctl): pg_config's, else
    Debian's /usr/lib/postgresql/<version>/bin."""
    folders = ["/usr/lib/postgresql/*/bin"]
    pg_config = shutil.which("pg_config")
    if pg_config:
        result = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        if result.returncode == 0:
            folders.insert(0, result.stdout.strip())
    return str(Path(require_binary("initdb", *folders)).parent)


class PrivatePostgres:
    """A PostgreSQL cluster of its own: trust authentication, TCP on 127.0.0.1:`port`,
    its unix socket in its folder. Call `close()` in a finalizer."""

    def __init__(self, bindir: str) -> None:
        self.bindir = Path(bindir)
        self.port = free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            try:
                pwd.getpwnam(POSTGRES_USER)
            except KeyError:
                pytest.fail(f"running as root, PostgreSQL needs a `{POSTGRES_USER}` user")
            runuser = require_binary("runuser", "/usr/sbin", "/sbin")
            self.as_user = [runuser, "-u", POSTGRES_USER, "--"]
        # Not under pytest's tmp_path: that is private to root, and the server's user
        # must reach its data directory.
        self.folder = Path(tempfile.mkdtemp(prefix="presence-pg-"))
        self.data = self.folder / "data"
        self.log = self.folder / "postgres.log"
        try:
            if self.as_user:
                shutil.chown(self.folder, POSTGRES_USER, POSTGRES_USER)
            self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-N")
            with (self.data / "postgresql.conf").open("a", encoding="utf-8") as conf:
                conf.write(
                    f"port = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                    f"unix_socket_directories = '{self.folder}'\n"
                )
        except BaseException:
            shutil.rmtree(self.folder, ignore_errors=True)
            raise

    def _run(self, program: str, *args: str, timeout: float = 120) -> None:
        command = [*self.as_user, str(self.bindir / program), *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        assert result.returncode == 0, f"{program} {' '.join(args)}:\n{result.stderr}"

    def _pg_ctl(self, action: str, *options: str) -> None:
        self._run("pg_ctl", action, "-D", str(self.data), "-l", str(self.log), "-w", *options)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        self._pg_ctl("start")

    def stop(self) -> None:
        """Stop as an administrator would: sessions are cut, then a clean shutdown."""
        self._pg_ctl("stop", "-m", "fast")

    def restart(self) -> None:
        self._pg_ctl("restart", "-m", "fast")

    def create_database(self, name: str) -> None:
        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True
        ) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')

    def close(self) -> None:
        """Stop the server, however it is, and remove its folder."""
        pid_file = self.data / "postmaster.pid"
        if pid_file.exists():
            try:
                self._pg_ctl("stop", "-m", "immediate")
            except (AssertionError, subprocess.TimeoutExpired):
                pid = int(pid_file.read_text().split()[0])
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        shutil.rmtree(self.folder, ignore_errors=True)


class PrivateRedis:
    """A redis-server of its own on 127.0.0.1:`port`, nothing saved to disk. Stopping and
    starting again keeps the port, as a restarted Redis would. Call `close()` in a
    finalizer."""

    def __init__(self, binary: str, folder: Path) -> None:
        self.binary, self.folder = binary, folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log = folder / f"redis-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> None:
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(self.folder)]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            try:
                with self._client() as client:
                    client.ping()
                return
            except redis.ConnectionError:
                assert self.process.poll() is None, self.log.read_text(errors="replace")
                assert time.monotonic() < deadline, f"redis-server not up in {timeout} s"
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def subscribers(self, channel: str) -> int:
        """How many connections listen on `channel` (PUBSUB NUMSUB)."""
        with self._client() as client:
            counts = dict(client.pubsub_numsub(channel))
        return int(counts.get(channel.encode(), 0))

    def close(self) -> None:
        """Stop it if it runs (for a finalizer)."""
        self.stop()

    def _client(self) -> redis.Redis:
        # No retries: a probe of a server that is down should say so at once.
        return redis.Redis(
            host="127.0.0.1", port=self.port, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0)
        )
