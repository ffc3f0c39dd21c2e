"""Live boards over Socket.IO: the `/board` namespace, one room per site.

A board connects with `auth = {"site": slug, "token": display token}` (the token may be
left out inside an allowed network), receives `state` at once, then `change` messages
as taps are stored. It sends `sync` to get the full state again (answered through the
acknowledgement) whenever it sees a gap in the numbers. With a Redis URL configured,
Redis carries the messages between server processes: a tap stored by one reaches the
boards connected to any other.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

from flask import Flask, current_app, request
from flask_socketio import ConnectionRefusedError, Namespace, SocketIO, emit, join_room

from server.board import Message, Publish, board_state, room
from server.board_page import BoardAccess, find_board_site
from server.models import Site
from server.runtime import runtime

NAMESPACE = "/board"
log = logging.getLogger(__name__)


class BoardNamespace(Namespace):  # type: ignore[misc]
    """Connections of wall boards; each belongs to one site's room."""

    def __init__(self) -> None:
        super().__init__(NAMESPACE)
        self._site_of: dict[str, int] = {}
        self._lock = threading.Lock()

    def on_connect(self, auth: Any = None) -> None:
        auth = auth if isinstance(auth, dict) else {}
        slug, token = auth.get("site"), auth.get("token")
        if not isinstance(slug, str) or not (token is None or isinstance(token, str)):
            raise ConnectionRefusedError("send the site and its display token")
        access, state = _state_for(slug, token)
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


def _state_for(slug: str, token: str | None) -> tuple[BoardAccess, dict[str, Any] | None]:
    app = runtime()
    with app.session() as session:
        access, site = find_board_site(session, slug, token, request.remote_addr)
        if site is None:
            return access, None
        state = board_state(session, site, app.now(), app.board.secret)
        state["site_id"] = site.id
        return access, state


def init_live(app: Flask, redis_url: str) -> SocketIO:
    """Attach Socket.IO to the app and make stored changes reach the boards."""
    socketio = SocketIO(
        app,
        async_mode="threading",
        message_queue=redis_url or None,
        channel="presence-board",
        # Same origin only (the default): another site cannot open a board socket with a
        # visitor's cookies.
        logger=False,
        engineio_logger=False,
    )
    namespace = BoardNamespace()
    socketio.on_namespace(namespace)
    app.extensions["presence.boards"] = namespace
    runtime_of_app = app.extensions["presence"]
    runtime_of_app.board.publish = socket_publisher(socketio)
    return socketio


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


def external_publisher(redis_url: str) -> Publish:
    """A publisher for processes that serve no boards (commands), through Redis."""
    return socket_publisher(SocketIO(message_queue=redis_url, channel="presence-board"))


def connected_boards() -> int:
    namespace: BoardNamespace = current_app.extensions["presence.boards"]
    return namespace.connected
