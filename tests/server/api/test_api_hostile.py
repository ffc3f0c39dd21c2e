"""Hostile bodies cost little and get a precise 4xx in the one shape, never a 500:
JSON nested deep, absurd numbers, a heartbeat without a body, unsupported methods."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from server.api.bounded_json import MAX_DEPTH, nesting_depth
from tests.factories import make_kiosk, make_site


@pytest.fixture
def token(session: Session) -> str:
    _kiosk, made = make_kiosk(session, make_site(session))
    session.commit()
    return made


def send(client: FlaskClient, token: str, path: str, body: bytes | str, **headers: str) -> Any:
    return client.post(
        f"/api/v1/{path}",
        data=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json", **headers},
    )


def refused(response: Any, status: int, reason: str) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.json["status"] == "error"
    assert response.json["reason"] == reason
    assert response.json["message"]


@pytest.mark.parametrize("path", ["taps", "heartbeat"])
def test_json_nested_20000_deep_is_400_not_a_recursion_error(client, token, path) -> None:  # type: ignore[no-untyped-def]
    refused(send(client, token, path, "[" * 20_000 + "]" * 20_000), 400, "json_too_deep")
    refused(
        send(client, token, path, '{"taps": ' + "[" * 40 + "]" * 40 + "}"), 400, "json_too_deep"
    )


def test_brackets_inside_strings_are_not_nesting(client, token) -> None:  # type: ignore[no-untyped-def]
    body = json.dumps({"note": "[" * 100 + '\\"{', "pending_taps": 0})  # an unknown field
    assert send(client, token, "heartbeat", body).status_code == 200


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("1" * 5000, "number_too_long"),
        ("-" + "9" * 31, "number_too_long"),
        ("0." + "1" * 4000, "number_too_long"),
        ("1e999", "number_not_finite"),
        ("-1e999", "number_not_finite"),
        ("NaN", "number_not_finite"),
        ("Infinity", "number_not_finite"),
        ("-Infinity", "number_not_finite"),
    ],
)
def test_absurd_numbers_are_400(client, token, number, reason) -> None:  # type: ignore[no-untyped-def]
    refused(send(client, token, "heartbeat", f'{{"pending_taps": {number}}}'), 400, reason)


def test_a_heartbeat_needs_a_json_body(client, token) -> None:  # type: ignore[no-untyped-def]
    auth = {"Authorization": f"Bearer {token}"}
    refused(client.post("/api/v1/heartbeat", headers=auth), 415, "unsupported_media_type")
    refused(send(client, token, "heartbeat", b""), 400, "missing_body")
    refused(send(client, token, "heartbeat", b"  \n"), 400, "missing_body")
    form = client.post("/api/v1/heartbeat", data={"version": "1"}, headers=auth)
    refused(form, 415, "unsupported_media_type")
    assert send(client, token, "heartbeat", b"{}").status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("TRACE", "/", {"GET", "HEAD", "OPTIONS"}),
        ("TRACE", "/api/v1/taps", {"POST", "OPTIONS"}),
        ("PUT", "/api/v1/heartbeat", {"POST", "OPTIONS"}),
        ("DELETE", "/healthz", {"GET", "HEAD", "OPTIONS"}),
    ],
)
def test_an_unsupported_method_is_405_with_allow(client, method, path, allowed) -> None:  # type: ignore[no-untyped-def]
    response = client.open(path, method=method)
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) == allowed
    if path.startswith(("/api/", "/healthz")):
        assert response.json["reason"] == "method_not_allowed"


#: JSON made of nested arrays and objects, strings full of brackets, and numbers.
JSON_TEXT = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab'),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=60,
)


def depth_of(value: object) -> int:
    if isinstance(value, list):
        return 1 + max((depth_of(item) for item in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth_of(item) for item in value.values()), default=0)
    return 0


@given(JSON_TEXT)
@settings(max_examples=300, deadline=None)
def test_the_scan_counts_nesting_as_json_does(value: object) -> None:
    assert nesting_depth(json.dumps(value).encode()) == depth_of(value)


@given(
    depth=st.integers(min_value=MAX_DEPTH - 2, max_value=MAX_DEPTH + 200),
    number=st.sampled_from(["1", "1" * 40, "1e999", "NaN", '"x"']),
    cut=st.booleans(),
)
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_hostile_heartbeats_never_get_a_500(client, token, depth, number, cut) -> None:  # type: ignore[no-untyped-def]
    body = '{"version": ' + "[" * depth + number + "]" * depth + "}"
    if cut:
        body = body[: len(body) // 2]
    response = send(client, token, "heartbeat", body)
    assert response.status_code in (200, 400, 422), response.get_data(as_text=True)
    assert response.json["status"] == "error" or response.status_code == 200
    if depth > MAX_DEPTH and not cut:
        assert response.json["reason"] == "json_too_deep"
