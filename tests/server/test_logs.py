"""The server's log lines: text for people, or one JSON object per line."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from server import create_app
from server.logs import configure_logging
from server.settings import ServerSection, Settings
from tests.servers import free_port


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def test_json_logs_are_one_object_per_line_with_the_extra_fields(restore_root: None) -> None:
    out = io.StringIO()
    configure_logging(Settings(server=ServerSection(log_format="json", log_level="info")), out)
    logging.getLogger("server.jobs.outbox").warning(
        "gave up %s", "check_in", extra={"attempts": 16}
    )
    logging.getLogger("server.jobs.scheduler").debug("not written: below the level")
    logging.getLogger("apscheduler.executors.default").info('Job "sweep" executed successfully')
    [line] = out.getvalue().splitlines()
    record = json.loads(line)
    assert record["level"] == "WARNING" and record["logger"] == "server.jobs.outbox"
    assert record["message"] == "gave up check_in" and record["attempts"] == 16
    assert record["time"]


def test_text_logs_say_when_what_and_who(restore_root: None) -> None:
    out = io.StringIO()
    configure_logging(Settings(server=ServerSection(log_level="debug")), out)
    logging.getLogger("server.jobs.scheduler").debug("sweep: %d changed", 2)
    assert out.getvalue().rstrip().endswith("DEBUG server.jobs.scheduler: sweep: 2 changed")


def test_socket_io_lines_come_once_and_through_our_handler(
    restore_root: None, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    # Redis is down: each board message the server cannot publish is logged by
    # python-socketio, which used to add a handler of its own and write it twice.
    settings = Settings(
        server=ServerSection(
            data_dir=str(tmp_path),
            secret_key="s",
            redis_url=f"redis://127.0.0.1:{free_port()}/0",
        )
    )
    out = io.StringIO()
    configure_logging(settings, out)
    app = create_app(settings)
    app.extensions["socketio"].emit("change", {"seq": 1}, to="site-1", namespace="/board")
    ours = [line for line in out.getvalue().splitlines() if "publish to redis" in line]
    assert ours and all(" ERROR socketio.server: " in line for line in ours)
    assert "publish to redis" not in capfd.readouterr().err
