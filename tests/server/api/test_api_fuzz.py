"""Schema fuzzing: hostile input to every documented endpoint never gets a 500.

schemathesis reads /api/openapi.json and generates, for each operation, requests that
follow the schema and requests that break it, sent with a real kiosk token so the
bodies are reached. Every answer must not be a server error, must use a documented
status code and match the documented response schema; invalid input must be refused.
Runs on SQLite and PostgreSQL (PostgreSQL refuses NUL in text: a classic 500).
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from tests.factories import make_badge, make_kiosk, make_member, make_site

EXAMPLES = 70


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
            case.call_and_validate(headers={"Authorization": f"Bearer {token}"})

        check()
