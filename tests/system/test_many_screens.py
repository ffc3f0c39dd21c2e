"""Many screens on one `presence serve` with the shipped settings: the door still works.

With threads, each open board held one of the server's 64 threads, and the 65th screen
left the kiosks unable to upload. Here 200 boards connect to one real server process
(gunicorn's gevent worker) and stay connected while a kiosk uploads and `/healthz` is
asked: both answer, and every board sees the arrival.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import requests
import socketio

from tests.servers import (
    ServerProcess,
    arrange_cantine,
    free_port,
    post_tap,
    presence,
    write_config,
)

pytestmark = pytest.mark.slow

BOARDS = 200


async def connect_boards(base: str, token: str, count: int) -> list[Any]:
    """`count` boards on the websocket transport, each holding its first state."""

    async def one() -> tuple[socketio.AsyncClient, asyncio.Queue[dict[str, Any]]]:
        client = socketio.AsyncClient(reconnection=False)
        changes: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        state: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

        def first_state(data: dict[str, Any]) -> None:
            if not state.done():
                state.set_result(data)

        client.on("state", first_state, "/board")
        client.on("change", changes.put_nowait, "/board")
        await client.connect(
            base,
            namespaces=["/board"],
            auth={"site": "cantine", "token": token},
            transports=["websocket"],
            wait_timeout=60,
        )
        await asyncio.wait_for(state, 60)
        return client, changes

    # In waves of 50, as screens come on across a room, not in one instant.
    boards = []
    for start in range(0, count, 50):
        boards += await asyncio.gather(*(one() for _ in range(min(50, count - start))))
    return boards


async def arrival_reaches(boards: list[Any], name: str) -> int:
    """How many boards got a change that shows `name`."""

    async def seen(changes: asyncio.Queue[dict[str, Any]]) -> bool:
        while True:
            change = await asyncio.wait_for(changes.get(), 60)
            if name in str(change):
                return True

    found = await asyncio.gather(*(seen(changes) for _, changes in boards))
    return sum(found)


def test_two_hundred_boards_leave_the_door_and_healthz_answering(tmp_path: Path) -> None:
    # SQLite, the embedded default, where a commit blocks the whole process; PostgreSQL
    # under the same worker is exercised by the two-process and fault tests.
    port = free_port()
    database = f"sqlite:///{tmp_path / 'presence.db'}"
    config = write_config(tmp_path, database, port=port)  # shipped serving settings
    presence(config, "db", "upgrade")
    kiosk, display = arrange_cantine(config)
    server = ServerProcess(config, port).start()

    async def scenario() -> tuple[int, int, str, int]:
        boards = await connect_boards(server.base, display, BOARDS)
        try:
            # All 200 are connected now; the door and the health check must still answer.
            health = await asyncio.to_thread(requests.get, f"{server.base}/healthz", timeout=30)
            answer = await asyncio.to_thread(post_tap, server.base, kiosk, "04A224B2C35A80")
            reached = await arrival_reaches(boards, "Bruno")
            return len(boards), health.status_code, answer["outcome"], reached
        finally:
            await asyncio.gather(*(client.disconnect() for client, _ in boards))

    try:
        connected, health, outcome, reached = asyncio.run(scenario())
    finally:
        server.stop()
    assert (connected, health, outcome, reached) == (BOARDS, 200, "checked_in", BOARDS)
