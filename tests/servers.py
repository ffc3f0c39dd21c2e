"""Real server processes for tests: `presence serve` on a free loopback port.

Each test that stops, restarts or breaks a server starts its own, never a shared one.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_config(
    folder: Path, database_url: str, *, port: int, redis_url: str = "", extra: str = ""
) -> Path:
    """A config.toml for one server process; processes that share `folder`'s secret agree."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / f"config-{port}.toml"
    config.write_text(
        f'[server]\ndata_dir = "{folder / "data"}"\ndatabase_url = "{database_url}"\n'
        f'secret_key = "test-secret"\nredis_url = "{redis_url}"\nport = {port}\n{extra}',
        encoding="utf-8",
    )
    return config


def presence(config: Path, *args: str) -> str:
    """Run a `presence` command against `config`; its output, or fail with its errors."""
    result = subprocess.run(
        [sys.executable, "-m", "presence", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


class ServerProcess:
    """`presence serve` in its own process, started and stopped by the test."""

    def __init__(self, config: Path, port: int) -> None:
        self.config, self.port = config, port
        self.base = f"http://127.0.0.1:{port}"
        self.log_path = config.with_suffix(".log")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> ServerProcess:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "presence", "--config", str(self.config), "serve"],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: see stop()
            )
        deadline = time.monotonic() + timeout
        while True:
            try:
                if requests.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    return self
            except requests.ConnectionError:
                pass
            assert self.process.poll() is None, self.log_path.read_text()
            assert time.monotonic() < deadline, f"no answer on /healthz in {timeout} s"
            time.sleep(0.1)

    def stop(self, *, kill: bool = False) -> None:
        """Stop the server: SIGTERM (graceful) or SIGKILL (a crash).

        A crash kills the whole process group: gunicorn's worker would otherwise outlive
        its killed master for a moment, still answering on the port.
        """
        if self.process is None:
            return
        if kill:
            os.killpg(self.process.pid, signal.SIGKILL)
        else:
            self.process.terminate()
        self.process.wait(timeout=30)
        self.process = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def post_tap(base: str, kiosk_token: str, badge: str) -> dict[str, Any]:
    """Tap `badge` now through the kiosk API; the tap's answer (outcome, name, ...)."""
    tap = {"id": str(uuid.uuid4()), "badge": badge, "read_at": datetime.now(UTC).isoformat()}
    response = requests.post(
        f"{base}/api/v1/taps",
        json={"taps": [tap]},
        headers={"Authorization": f"Bearer {kiosk_token}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["results"][0]
    return result
