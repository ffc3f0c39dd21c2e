"""The real thing: `presence serve` in its own process, set up with the real command.

This is the issue's acceptance path: a tap posted with a token from `presence kiosks add`
opens a visit, the same tap id changes nothing, a tap after the debounce window closes
the visit, and a wrong token gets 401.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from openapi_spec_validator import validate

from tests.servers import ServerProcess, free_port, presence, write_config

pytestmark = pytest.mark.slow


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[tuple[str, Path]]:
    port = free_port()
    config = write_config(
        tmp_path, database_url, port=port, extra="[presence]\ndebounce_seconds = 1\n"
    )
    if not database_url.startswith("sqlite"):
        presence(config, "db", "upgrade")
    process = ServerProcess(config, port).start()
    try:
        yield process.base, config
    finally:
        process.stop()


def tap(
    base: str, token: str, tap_id: str, badge: str = "04:A2:24:B2:C3:5A:80"
) -> requests.Response:
    body = {"taps": [{"id": tap_id, "badge": badge, "read_at": datetime.now(UTC).isoformat()}]}
    return requests.post(
        f"{base}/api/v1/taps", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )


def test_serve_answers_health_openapi_and_home(server) -> None:  # type: ignore[no-untyped-def]
    base, _config = server
    assert requests.get(f"{base}/healthz", timeout=5).json()["database"] == "ok"
    validate(requests.get(f"{base}/api/openapi.json", timeout=5).json())
    home = requests.get(f"{base}/", timeout=5)
    assert home.status_code == 200 and "Présence" in home.text


def test_a_tap_with_a_token_from_the_cli_opens_and_closes_a_visit(server) -> None:  # type: ignore[no-untyped-def]
    base, config = server
    presence(config, "sites", "add", "La Cantine", "--hours", "mon-sun 00:00-23:59")
    presence(config, "members", "add", "--given-name", "Alice", "--email", "alice@example.org")
    presence(config, "badges", "assign", "alice@example.org", "04A224B2C35A80")
    token = presence(config, "kiosks", "add", "porte", "--site", "la-cantine").strip()

    first_id = str(uuid.uuid4())
    arrive = tap(base, token, first_id)
    assert arrive.status_code == 200
    assert arrive.json()["results"][0]["outcome"] == "checked_in"
    assert arrive.json()["results"][0]["name"] == "Alice"
    assert arrive.json()["head_count"] == 1

    replay = tap(base, token, first_id)
    assert replay.json()["results"] == arrive.json()["results"]
    assert replay.json()["head_count"] == 1

    time.sleep(1.5)  # past the (configured, 1 s) debounce window
    leave = tap(base, token, str(uuid.uuid4()))
    assert leave.json()["results"][0]["outcome"] == "checked_out"
    assert leave.json()["head_count"] == 0

    wrong = tap(base, "pk_wrong", str(uuid.uuid4()))
    assert wrong.status_code == 401 and wrong.json()["reason"] == "invalid_token"

    rotated = presence(config, "kiosks", "rotate-token", "porte").strip()
    assert tap(base, token, str(uuid.uuid4())).status_code == 401
    assert tap(base, rotated, str(uuid.uuid4())).status_code == 200
