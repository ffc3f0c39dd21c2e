"""Schema fuzzing: hostile input to every documented endpoint never gets a 500.

schemathesis reads /api/openapi.json and generates, for each operation, requests that
follow the schema and requests that break it, sent with a real kiosk token so the
bodies are reached. Every answer must not be a server error, must use a documented
status code and match the documented response schema; invalid input must be refused.
Runs on SQLite and PostgreSQL (PostgreSQL refuses NUL in text: a classic 500).
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, assume, given, settings
from schemathesis import GenerationMode

from server.api.bounded_json import MAX_DEPTH, MAX_NUMBER_CHARS
from tests.factories import make_badge, make_kiosk, make_member, make_site

EXAMPLES = 70


def within_bounds(body: Any, depth: int = 0) -> bool:
    """Whether a JSON value keeps to the server's bounds on nesting and numbers."""
    if isinstance(body, dict):
        body = list(body.values())
    if isinstance(body, list):
        return depth < MAX_DEPTH and all(within_bounds(item, depth + 1) for item in body)
    if isinstance(body, int | float) and not isinstance(body, bool):
        return math.isfinite(body) and len(json.dumps(body)) <= MAX_NUMBER_CHARS
    return True


#: Bodies no JSON reader should spend much on: each gets a 4xx in the one shape.
HOSTILE_BODIES = [
    "[" * 20_000 + "]" * 20_000,
    '{"a": ' * 5_000 + "1" + "}" * 5_000,
    "1" * 5_000,
    '{"pending_taps": ' + "9" * 50_000 + "}",
    '{"taps": [{"monotonic": 1e999}]}',
    '{"taps": NaN}',
    '"' + '\\"' * 60_000,
    "",
]


@pytest.mark.parametrize("body", HOSTILE_BODIES, ids=range(len(HOSTILE_BODIES)))
def test_hostile_bodies_get_a_4xx_at_every_endpoint(app, session, body: str) -> None:  # type: ignore[no-untyped-def]
    _kiosk, token = make_kiosk(session, make_site(session))
    session.commit()
    client = app.test_client()
    spec = client.get("/api/openapi.json").json
    posts = [path for path, ops in spec["paths"].items() if "post" in ops]
    assert posts
    for path in posts:
        response = client.post(
            path,
            data=body,
            content_type="application/json",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert 400 <= response.status_code < 500, (path, response.get_data(as_text=True))
        assert response.json["status"] == "error"


@pytest.mark.parametrize("mode", list(GenerationMode), ids=lambda mode: mode.value)
def test_no_input_breaks_the_api(app, session, mode: GenerationMode) -> None:  # type: ignore[no-untyped-def]
    site = make_site(session)
    make_badge(session, make_member(session), value="04A224B2C35A80")
    _kiosk, token = make_kiosk(session, site)
    session.commit()
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 4

    for operation in operations:
        if mode is GenerationMode.NEGATIVE and operation.method.upper() == "GET":
            continue  # no body and no parameters: nothing to make invalid

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case) -> None:  # type: ignore[no-untyped-def]
            # Numbers past the server's bound (server.api.bounded_json) are refused with
            # a 400 even in a field the schema leaves open: not valid data.
            assume(mode is GenerationMode.NEGATIVE or within_bounds(case.body))
            case.call_and_validate(headers={"Authorization": f"Bearer {token}"})

        check()
