"""The server's log lines: text for people, or one JSON object per line."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from server.logs import configure_logging
from server.settings import ServerSection, Settings


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
    logging.getLogger("server.outbox").warning("gave up %s", "check_in", extra={"attempts": 16})
    logging.getLogger("server.jobs").debug("not written: below the level")
    logging.getLogger("apscheduler.executors.default").info('Job "sweep" executed successfully')
    [line] = out.getvalue().splitlines()
    record = json.loads(line)
    assert record["level"] == "WARNING" and record["logger"] == "server.outbox"
    assert record["message"] == "gave up check_in" and record["attempts"] == 16
    assert record["time"]


def test_text_logs_say_when_what_and_who(restore_root: None) -> None:
    out = io.StringIO()
    configure_logging(Settings(server=ServerSection(log_level="debug")), out)
    logging.getLogger("server.jobs").debug("sweep: %d changed", 2)
    assert out.getvalue().rstrip().endswith("DEBUG server.jobs: sweep: 2 changed")
