"""Boards across real server processes: Redis carries a tap from one process to the
boards of another, and a board comes back by itself after its server restarts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REDIS_ENV, require_env
from tests.servers import (
    Board,
    ServerProcess,
    arrange_cantine,
    free_port,
    post_tap,
    presence,
    write_config,
)

pytestmark = pytest.mark.slow


def tap(base: str, kiosk_token: str) -> dict[str, Any]:
    return post_tap(base, kiosk_token, "04A224B2C35A80")


@pytest.fixture
def two_servers(tmp_path: Path, database_url: str) -> Iterator[tuple[ServerProcess, ...]]:
    redis_url = require_env(REDIS_ENV, "Redis")
    servers = []
    for _ in range(2):
        port = free_port()
        config = write_config(tmp_path, database_url, port=port, redis_url=redis_url)
        servers.append(ServerProcess(config, port))
    presence(servers[0].config, "db", "upgrade")
    try:
        for server in servers:
            server.start()
        yield tuple(servers)
    finally:
        for server in servers:
            server.stop()


def test_a_tap_stored_by_one_process_reaches_a_board_on_the_other(two_servers) -> None:  # type: ignore[no-untyped-def]
    first, second = two_servers
    kiosk_token, display_token = arrange_cantine(first.config)
    board = Board(first.base, "cantine", display_token)
    try:
        state = board.next("state")
        assert state["head_count"] == 0

        assert tap(second.base, kiosk_token)["outcome"] == "checked_in"

        change = board.next("change")
        assert change["put"]["name"] == "Bruno"
        assert change["seq"] == state["seq"] + 1 and change["head_count"] == 1
    finally:
        board.close()


def test_a_board_finds_the_same_numbers_after_a_restart(tmp_path: Path) -> None:
    # On SQLite only: that the numbers live in the database is checked on both backends
    # in test_board.py; this is about a real process dying and coming back.
    port = free_port()
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'presence.db'}", port=port)
    presence(config, "db", "upgrade")
    kiosk_token, display_token = arrange_cantine(config)
    server = ServerProcess(config, port).start()
    try:
        tap(server.base, kiosk_token)
        before = Board(server.base, "cantine", display_token)
        seq = before.next("state")["seq"]
        before.close()
        server.stop(kill=True)  # a crash: nothing is flushed on the way out
        server.start()
        after = Board(server.base, "cantine", display_token)
        state = after.next("state")
        after.close()
        assert state["seq"] == seq == 1
        assert [card["name"] for card in state["people"]] == ["Bruno"]
    finally:
        server.stop()
