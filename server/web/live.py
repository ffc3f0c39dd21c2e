"""Live pages over Socket.IO: the wall boards (`/board`) and the staff dashboard (`/staff`).

A board connects with `auth = {"site": slug, "token": display token}` (the token may be
left out inside an allowed network), receives `state` at once, then `change` messages
as taps are stored. It sends `sync` to get the full state again (answered through the
acknowledgement) whenever it sees a gap in the numbers. With a Redis URL configured,
Redis carries the messages between server processes: a tap stored by one reaches the
boards connected to any other.

A staff dashboard connects to `/staff` with its logged-in session cookie and receives
`changed` ({"what": [...]}, no data) whenever a commit touches what the dashboard shows;
it then fetches the dashboard's fragment over HTTP, where the staff login is checked.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from itertools import chain
from typing import Any

from flask import Flask, current_app, request
from flask_login import current_user
from flask_socketio import ConnectionRefusedError, Namespace, SocketIO, emit, join_room
from sqlalchemy import event
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from server.domain.board import BoardAccess, Message, Publish, board_state, find_board_site, room
from server.runtime import runtime
from server.store.models import Badge, Kiosk, Member, Outcome, Site, Tap, Visit

NAMESPACE = "/board"
STAFF_NAMESPACE = "/staff"
STAFF_ROOM = "staff"
log = logging.getLogger(__name__)


class BoardNamespace(Namespace):  # type: ignore[misc]
    """Connections of wall boards; each belongs to one site's room."""

    def __init__(self) -> None:
        super().__init__(NAMESPACE)
        self._site_of: dict[str, int] = {}
        self._lock = threading.Lock()
        #: Set when the process is stopping: a board reconnecting at once would keep it
        #: up until gunicorn's graceful timeout; told `busy`, it tries again in a moment.
        self.stopping = False

    def on_connect(self, auth: Any = None) -> None:
        if self.stopping:
            raise ConnectionRefusedError("busy")
        auth = auth if isinstance(auth, dict) else {}
        slug, token = auth.get("site"), auth.get("token")
        if not isinstance(slug, str) or not (token is None or isinstance(token, str)):
            raise ConnectionRefusedError("send the site and its display token")
        try:
            access, state = _state_for(slug, token)
        except PoolTimeout:
            # Every database connection is taken (all the screens reconnecting at once
            # after a restart): the board tries again in a moment (board.js).
            raise ConnectionRefusedError("busy") from None
        if access is not BoardAccess.GRANTED or state is None:
            raise ConnectionRefusedError(access.value)
        site_id = state.pop("site_id")
        with self._lock:
            self._site_of[request.sid] = site_id  # type: ignore[attr-defined]
        join_room(room(site_id))
        emit("state", state)  # to this board only

    def on_disconnect(self, reason: Any = None) -> None:
        with self._lock:
            self._site_of.pop(request.sid, None)  # type: ignore[attr-defined]

    def on_sync(self, _data: Any = None) -> dict[str, Any] | None:
        """The full state again, as the acknowledgement of the board's request."""
        with self._lock:
            site_id = self._site_of.get(request.sid)  # type: ignore[attr-defined]
        if site_id is None:
            return None
        app = runtime()
        with app.session() as session:
            site = session.get(Site, site_id)
            if site is None:
                return None
            return board_state(session, site, app.now(), app.board.secret)

    @property
    def connected(self) -> int:
        """How many boards are connected to this process."""
        with self._lock:
            return len(self._site_of)


class StaffNamespace(Namespace):  # type: ignore[misc]
    """Connections of staff dashboards, all in one room; nobody else gets in."""

    def __init__(self) -> None:
        super().__init__(STAFF_NAMESPACE)
        self._sids: set[str] = set()
        self._lock = threading.Lock()

    def on_connect(self, auth: Any = None) -> None:
        """A dashboard's browser connects with its session cookie; the socket then only
        receives `changed`, sent by `staff_notifier`."""
        if not current_user.is_authenticated:
            raise ConnectionRefusedError("log in as staff first")
        join_room(STAFF_ROOM)
        with self._lock:
            self._sids.add(request.sid)  # type: ignore[attr-defined]

    def on_disconnect(self, reason: Any = None) -> None:
        with self._lock:
            self._sids.discard(request.sid)  # type: ignore[attr-defined]

    @property
    def connected(self) -> int:
        """How many dashboards are connected to this process."""
        with self._lock:
            return len(self._sids)


def _state_for(slug: str, token: str | None) -> tuple[BoardAccess, dict[str, Any] | None]:
    app = runtime()
    with app.session() as session:
        networks = app.settings.board.allowed_networks
        access, site = find_board_site(session, slug, token, request.remote_addr, networks)
        if site is None:
            return access, None
        state = board_state(session, site, app.now(), app.board.secret)
        state["site_id"] = site.id
        return access, state


def init_live(
    app: Flask,
    redis_url: str,
    channel: str = "presence-board",
    origins: Sequence[str] = (),
    async_mode: str = "threading",
) -> SocketIO:
    """Attach Socket.IO to the app and make stored changes reach the boards (through the
    Redis `channel` to every process of the installation, when there is a Redis)."""
    socketio = SocketIO(
        app,
        async_mode=async_mode,
        message_queue=redis_url or None,
        channel=channel,
        # Same origin only unless origins are configured: another site cannot open a
        # board or dashboard socket with a visitor's cookies.
        cors_allowed_origins=list(origins) or None,
        logger=_quiet_logger("socketio.server"),
        engineio_logger=_quiet_logger("engineio.server"),
    )
    namespace = BoardNamespace()
    socketio.on_namespace(namespace)
    dashboards = StaffNamespace()
    socketio.on_namespace(dashboards)
    app.extensions["presence.boards"] = namespace
    runtime_of_app = app.extensions["presence"]
    runtime_of_app.board.publish = socket_publisher(socketio)
    # Alone (no message queue), this process knows whether any dashboard listens; with
    # Redis, a dashboard on another process may, so the notice always goes out.
    listening = (lambda: True) if redis_url else (lambda: dashboards.connected > 0)
    follow_staff_changes(runtime_of_app.sessions, staff_notifier(socketio, listening))
    return socketio


def _quiet_logger(name: str) -> logging.Logger:
    """Socket.IO's logger at WARNING, writing through ours.

    Given `False` instead, python-socketio adds a handler of its own to it, and each of
    its lines (a failed publish to Redis...) came out twice, once without a time.
    """
    logger = logging.getLogger(name)
    logger.setLevel(logging.WARNING)
    return logger


def socket_publisher(socketio: SocketIO) -> Publish:
    def publish(messages: Sequence[Message]) -> None:
        for message in messages:
            try:
                socketio.emit("change", message.body, to=room(message.site_id), namespace=NAMESPACE)
            except Exception:
                # The change is committed and the boards will resynchronise at the next
                # gap; a request that stored a tap must not fail for a board.
                log.exception("could not send a board change (site %s)", message.site_id)

    return publish


def external_publisher(redis_url: str, channel: str) -> Publish:
    """A publisher for processes that serve no boards (commands), through Redis."""
    return socket_publisher(SocketIO(message_queue=redis_url, channel=channel))


# -- the staff dashboard -----------------------------------------------------------------

_STAFF_CHANGES = "presence.staff.changed"


def dashboard_part(obj: object) -> str | None:
    """Which part of the staff dashboard shows this row, if any."""
    if isinstance(obj, Visit):
        return "visits"
    if isinstance(obj, Kiosk):  # heartbeats and uploads: last seen, pending taps
        return "kiosks"
    if isinstance(obj, Badge) or (isinstance(obj, Tap) and obj.outcome is Outcome.UNKNOWN_BADGE):
        return "unknown"
    if isinstance(obj, Member):  # names, and the members a badge can be given to
        return "members"
    return None


def follow_staff_changes(
    sessions: sessionmaker[Session], notify: Callable[[list[str]], None]
) -> None:
    """Call `notify` after each commit that changed what the staff dashboard shows.

    Only this process's commits: a command-line process notifies nobody, and the
    dashboards' minute refresh catches up with it.
    """

    def watch(session: Session, _context: object, _instances: object) -> None:
        parts = {dashboard_part(obj) for obj in chain(session.new, session.dirty, session.deleted)}
        session.info.setdefault(_STAFF_CHANGES, set()).update(parts - {None})

    def send(session: Session) -> None:
        parts: set[str] = session.info.pop(_STAFF_CHANGES, set())
        if parts:
            notify(sorted(parts))

    def forget(session: Session) -> None:
        session.info.pop(_STAFF_CHANGES, None)

    event.listen(sessions, "before_flush", watch)
    event.listen(sessions, "after_commit", send)
    event.listen(sessions, "after_rollback", forget)


def staff_notifier(
    socketio: SocketIO, listening: Callable[[], bool] = lambda: True
) -> Callable[[list[str]], None]:
    """Tell every connected dashboard (through Redis, on every server process) what
    changed; nothing at all while `listening()` says no dashboard could hear it."""

    def notify(parts: list[str]) -> None:
        if not listening():
            return
        try:
            socketio.emit("changed", {"what": parts}, to=STAFF_ROOM, namespace=STAFF_NAMESPACE)
        except Exception:
            # Committed all the same; the dashboards refresh every minute anyway.
            log.exception("could not notify the staff dashboards")

    return notify


def connected_boards() -> int:
    namespace: BoardNamespace = current_app.extensions["presence.boards"]
    return namespace.connected
