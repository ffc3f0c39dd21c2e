"""Bad input gets a precise 4xx in one JSON shape; never a 500, never a traceback."""

from __future__ import annotations

import json

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.store.models import Tap
from tests.factories import make_kiosk, make_site, tap_json


@pytest.fixture
def token(session: Session) -> str:
    site = make_site(session)
    _kiosk, token = make_kiosk(session, site)
    session.commit()
    return token


def post(client: FlaskClient, token: str, body: object, **kwargs: object):  # type: ignore[no-untyped-def]
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(
        "/api/v1/taps",
        data=data,
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
        **kwargs,
    )


def assert_error(response, status: int, reason: str) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    body = response.json
    assert body["status"] == "error"
    assert body["reason"] == reason
    assert body["message"] and "Traceback" not in body["message"]
    return body


def test_malformed_json_is_400(client, token) -> None:
    assert_error(post(client, token, '{"taps": [ {"id": '), 400, "malformed_json")


def test_wrong_types_name_the_field(client, token, clock) -> None:
    tap = tap_json("04A224B2C35A80", clock(), monotonic="soon")
    body = assert_error(post(client, token, {"taps": [tap]}), 422, "invalid_request")
    assert "taps.0.monotonic" in body["fields"]


def test_unparseable_timestamp_is_422(client, token, clock) -> None:
    tap = {**tap_json("04A224B2C35A80", clock()), "read_at": "yesterday at noon"}
    body = assert_error(post(client, token, {"taps": [tap]}), 422, "invalid_request")
    assert "taps.0.read_at" in body["fields"]


def test_timestamp_without_offset_is_422(client, token, clock) -> None:
    tap = {**tap_json("04A224B2C35A80", clock()), "read_at": "2026-11-24T10:00:00"}
    body = assert_error(post(client, token, {"taps": [tap]}), 422, "invalid_request")
    assert "taps.0.read_at" in body["fields"]


def test_not_an_object_is_422(client, token) -> None:
    assert_error(post(client, token, [1, 2, 3]), 422, "invalid_request")
    assert_error(post(client, token, {"taps": "many"}), 422, "invalid_request")
    assert_error(post(client, token, {"taps": []}), 422, "invalid_request")


def test_too_large_batch_is_413(client, token, clock, settings) -> None:
    taps = [tap_json("04A224B2C35A80", clock()) for _ in range(settings.api.max_batch + 1)]
    body = assert_error(post(client, token, {"taps": taps}), 413, "batch_too_large")
    assert str(settings.api.max_batch) in body["message"]


def test_oversized_body_is_413(client, token, settings) -> None:
    huge = '{"taps": [], "padding": "' + "x" * (settings.api.max_body_kib * 1024) + '"}'
    assert_error(post(client, token, huge), 413, "body_too_large")


def test_invalid_requests_store_nothing(client, token, session) -> None:
    post(client, token, '{"taps": [ {"id": ')
    post(client, token, {"taps": [{"id": "not-a-uuid", "badge": "04A224B2C35A80"}]})
    assert session.scalar(select(func.count()).select_from(Tap)) == 0


def test_unknown_route_and_wrong_method_keep_the_shape(client, token) -> None:
    assert_error(client.get("/api/v1/nowhere"), 404, "not_found")
    assert_error(
        client.get("/api/v1/taps", headers={"Authorization": f"Bearer {token}"}),
        405,
        "method_not_allowed",
    )


def test_huge_numbers_and_odd_unicode_are_refused_cleanly(client, token, clock) -> None:
    tap = tap_json("04A224B2C35A80", clock(), monotonic=1e309)
    assert post(
        client, token, json.dumps({"taps": [tap]}).replace("Infinity", "1e999")
    ).status_code in (
        400,
        422,
    )
    odd = tap_json("\u0000\ud7ff<script>", clock())
    response = post(client, token, {"taps": [odd]})
    assert response.status_code == 200
    assert response.json["results"][0]["outcome"] == "invalid"


@pytest.mark.parametrize("kind", ["nfc", "qr"])
def test_nul_and_lone_surrogates_become_a_void_tap(client, token, clock, kind) -> None:
    """PostgreSQL refuses NUL in text: a hostile badge must still be stored, escaped."""
    tap = {**tap_json("x", clock()), "badge": "04\u0000A2\ud800", "badge_kind": kind}
    response = post(client, token, {"taps": [tap]})
    assert response.status_code == 200
    assert response.json["results"][0]["outcome"] == "invalid"


def test_database_down_is_503_not_500(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A kiosk must see 'try again', not a server error, when the database is away."""
    from server import create_app
    from server.settings import ServerSection, Settings

    unreachable = "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2"
    app = create_app(
        Settings(
            server=ServerSection(data_dir=str(tmp_path), database_url=unreachable, secret_key="x")
        )
    )
    client = app.test_client()
    body = {"taps": [{"id": "0b9c8f3e-6a39-4c5e-9d0e-3f1c2b7a8d01", "badge": "04A224B2"}]}

    taps = client.post("/api/v1/taps", json=body, headers={"Authorization": "Bearer pk_x"})
    health = client.get("/healthz")

    assert_error(taps, 503, "database_unavailable")
    assert_error(health, 503, "database_unreachable")


@pytest.mark.parametrize("moment", ["0001-01-01T00:30:00+01:00", "9999-12-31T23:30:00-01:00"])
def test_a_valid_time_at_the_edge_of_the_calendar_is_placed_not_refused(
    client, token, clock, moment
) -> None:
    """Schema-valid input is accepted: the tap is kept, its time judged implausible."""
    tap = {**tap_json("04A224B2C35A80", clock()), "read_at": moment}
    response = post(client, token, {"taps": [tap]})
    assert response.status_code == 200
    assert response.json["results"][0]["outcome"] == "unknown_badge"
