"""Where the server's own log lines go: standard error (journald takes it from there),
as text for people or as one JSON object per line for a log collector (`[server]
log_format`), with python-json-logger. Fields passed as `extra=` become JSON keys."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from pythonjsonlogger.json import JsonFormatter

from server.settings import Settings

TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(settings: Settings, stream: TextIO | None = None) -> logging.Handler:
    """Send every logger's records (gunicorn's keep their own) to `stream`."""
    handler = logging.StreamHandler(stream or sys.stderr)
    if settings.server.log_format == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(logging.Formatter(TEXT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.server.log_level.upper())
    # APScheduler says "executed successfully" for every run of every job: only at debug.
    quiet = settings.server.log_level != "debug"
    logging.getLogger("apscheduler").setLevel(logging.WARNING if quiet else logging.NOTSET)
    return handler
