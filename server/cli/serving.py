"""Run the application in a production-grade server: gunicorn with its gevent worker.

An open websocket (a wall board, a staff dashboard) is a long request. With threads, each
held a thread for its whole life, and the 65th screen left the kiosks at the door unable
to upload. Under gevent a connection is a greenlet: thousands fit in one process, and an
HTTP request never waits for a socket. Flask-SocketIO runs in its `gevent` mode with
simple-websocket (gevent-websocket must not be installed: with it, gunicorn's plain
gevent worker refuses websocket upgrades and clients silently fall back to polling).

The application is built in the worker, after gevent has patched the standard library,
never in the master (a preloaded app would hold unpatched locks and sockets).
"""

from __future__ import annotations

import logging
import resource
import signal
from collections.abc import Callable
from types import FrameType
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

log = logging.getLogger(__name__)


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, make_app: Callable[[], Flask], options: dict[str, Any]) -> None:
        self.make_app = make_app
        self.application: Flask | None = None
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings:  # newer gunicorn settings are skipped on older ones
                self.cfg.set(key, value)

    def load(self) -> Flask:
        if self.application is None:  # in the worker, once gevent has patched
            self.application = self.make_app()
        return self.application


def run(make_app: Callable[[], Flask], host: str, port: int, *, connections: int = 2000) -> None:
    """Serve the app that `make_app` builds on host:port, in one gevent worker holding at
    most `connections` connections at once, until stopped."""
    _enough_files(connections)
    # One worker: several processes need the Redis message queue (see docs/scaling.md).
    server = _Gunicorn(make_app, {})
    server.options = {
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": 1,
        "worker_class": "gevent",
        "worker_connections": connections,
        "timeout": 60,
        "graceful_timeout": 10,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "info",
        # gunicorn 24+ opens a control socket in $HOME; we have no use for it, and a
        # sandboxed unit (ProtectHome=yes) has no home to write it in.
        "control_socket_disable": True,
        "post_worker_init": lambda worker: _in_worker(server.load()),
    }
    server.load_config()
    server.run()


def _enough_files(connections: int) -> None:
    """Raise the open-file limit to what `connections` sockets need, as far as the hard
    limit allows: at the usual soft limit (1,024) the worker stops accepting anything,
    /healthz and kiosks included, once about a thousand screens are connected."""
    wanted = connections + 256  # the database, Redis, logs, the listening socket...
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= wanted:
        return
    raised = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if raised > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
    if raised < wanted:
        log.warning(
            "open-file limit %d: fewer than the %d that [server] connections = %d needs; "
            "raise it (LimitNOFILE= in the systemd unit) or lower connections",
            raised,
            wanted,
            connections,
        )


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
    import gevent

    previous = signal.getsignal(signal.SIGTERM)

    def on_term(signum: int, frame: FrameType | None) -> None:
        app.extensions["presence.boards"].stopping = True
        socketio = app.extensions["socketio"]
        # Not in the signal handler itself: closing takes locks the interrupted code may hold.
        gevent.spawn(socketio.server.eio.disconnect)
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGTERM, on_term)
