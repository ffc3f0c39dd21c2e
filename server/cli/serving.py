"""Run the application in a production-grade server (gunicorn, threaded worker)."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, app: Flask, options: dict[str, Any]) -> None:
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings:  # newer gunicorn settings are skipped on older ones
                self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.application


def run(app: Flask, host: str, port: int, *, threads: int = 32) -> None:
    """Serve `app` on host:port in one process with `threads` threads, until stopped."""
    # One worker: several processes need the Redis message queue and sticky sessions
    # (see docs/scaling.md); threads serve concurrent kiosks and boards.
    options = {
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": 1,
        "worker_class": "gthread",
        "threads": threads,
        "timeout": 60,
        "graceful_timeout": 10,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "info",
        # gunicorn 24+ opens a control socket in $HOME; we have no use for it, and a
        # sandboxed unit (ProtectHome=yes) has no home to write it in.
        "control_socket_disable": True,
        "post_worker_init": lambda worker: _in_worker(app),
    }
    _Gunicorn(app, options).run()


def _in_worker(app: Flask) -> None:
    _close_boards_on_stop(app)
    runtime = app.extensions["presence"]
    if runtime.settings.jobs.in_server:
        from server.jobs.scheduler import start_background

        start_background(runtime)  # in the worker: threads would not survive the fork


def _close_boards_on_stop(app: Flask) -> None:
    """On SIGTERM, close the boards' websockets so the worker stops at once.

    Each open websocket is a request under way, which gunicorn would otherwise wait for
    until its graceful timeout. Boards reconnect to the next server by themselves.
    """
    previous = signal.getsignal(signal.SIGTERM)

    def on_term(signum: int, frame: FrameType | None) -> None:
        socketio = app.extensions["socketio"]
        # Not in the signal handler itself: closing takes locks the interrupted code may hold.
        threading.Thread(target=socketio.server.eio.disconnect, daemon=True).start()
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGTERM, on_term)
