"""The read API with staff API tokens: made and revoked by an admin (audited, stored as
a hash, shown once), read-only, refused once revoked; its visits agree with the
statements; erased members are tombstones; it is paged, checked and rate-limited."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from server import create_app
from server.runtime import Runtime
from server.settings import ApiSection, Settings
from server.store.models import ApiToken, AuditEntry
from tests.factories import log_in, make_kiosk, make_site, submit
from tests.month_of_visits import arrange_month, days_of, statement_days

OCTOBER = {"from": "2026-10-01", "to": "2026-10-31"}


def make_token(client: FlaskClient, name: str = "Compta") -> str:
    """An admin makes a token on the staff pages; the page shows it once."""
    log_in(client, "nadine@example.org")
    page = submit(client, "/staff/api-tokens", {"name": name})
    assert page.status_code == 200
    found = re.search(r'<code id="new-token">([^<]+)</code>', page.text)
    assert found, "the new token is shown"
    client.post("/staff/logout", data={"csrf_token": csrf_of(client)})
    return found[1]


def csrf_of(client: FlaskClient) -> str:
    page = client.get("/staff/api-tokens").text
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    return found[1] if found else ""


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def all_items(client: FlaskClient, token: str, path: str, **query: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    page = 1
    while True:
        answer = client.get(path, query_string={**query, "page": page}, headers=bearer(token))
        assert answer.status_code == 200, answer.json
        items += answer.json["items"]
        if page >= answer.json["pages"]:
            return items
        page += 1


def test_the_visits_agree_with_the_statements_of_the_month(
    client: FlaskClient, session: Session, clock: Any, runtime: Runtime
) -> None:
    month = arrange_month(session, clock)
    token = make_token(client)
    visits = all_items(client, token, "/api/v1/visits", **OCTOBER, per_page=3)

    lines = [
        (
            visit["member_id"],
            date.fromisoformat(visit["day"]),
            visit["day_kind"],
            Decimal(visit["counted_minutes"]) / 60,
        )
        for visit in visits
    ]
    assert days_of(lines) == statement_days(session, month, clock(), runtime.settings.billing)
    assert len(visits) == 11 and len({visit["id"] for visit in visits}) == 11  # no page overlaps
    closing = next(v for v in visits if v["member_id"] == month.ana and v["day"] == "2026-10-09")
    assert closing | {"id": 0} == {
        "id": 0,
        "member_id": month.ana,
        "member_name": "Ana L.",
        "site": "main",
        "site_name": "La Cantine",
        "day": "2026-10-09",
        "started_at": "2026-10-09T09:00:00+02:00",  # the site's local time
        "ended_at": "2026-10-09T19:30:00+02:00",
        "ended_by": "auto",
        "minutes": 630,
        "hours": 10.5,
        "counted_minutes": 0,
        "counted_hours": 0.0,
        "day_kind": "half",
    }
    annex = client.get(
        "/api/v1/visits", query_string={**OCTOBER, "site": month.annex}, headers=bearer(token)
    )
    assert [v["started_at"] for v in annex.json["items"]] == ["2026-10-08T14:00:00+02:00"]
    bob = client.get(
        "/api/v1/visits", query_string={**OCTOBER, "member": month.bob}, headers=bearer(token)
    )
    assert bob.json["total"] == 3 and {v["member_id"] for v in bob.json["items"]} == {month.bob}


def test_statements_of_a_month_closed_or_provisional(
    client: FlaskClient, session: Session, clock: Any
) -> None:
    month = arrange_month(session, clock)
    token = make_token(client)
    answer = client.get("/api/v1/statements?month=2026-10", headers=bearer(token))

    assert answer.status_code == 200
    statements = {one["member_id"]: one for one in answer.json["items"]}
    assert set(statements) == {month.ana, month.bob, month.zoe, month.formula}
    ana = statements[month.ana]
    assert (ana["status"], ana["half_days"], ana["full_days"]) == ("provisional", 2, 2)
    assert ana["total_cents"] == 2 * 1000 + 2 * 1800 and ana["currency"] == "EUR"
    assert [day["kind"] for day in ana["days"]] == ["half", "full", "full", "half"]
    assert statements[month.zoe]["member_name"] is None  # erased

    log_in(client, "nadine@example.org")
    submit(client, "/staff/billing?month=2026-10", {})  # the page's CSRF token for the next
    closed = client.post(
        "/staff/billing/2026-10/close", data={"csrf_token": csrf_of(client)}, follow_redirects=True
    )
    assert closed.status_code == 200
    answer = client.get("/api/v1/statements?month=2026-10", headers=bearer(token))
    assert {one["status"] for one in answer.json["items"]} == {"closed"}
    assert {one["member_id"]: one["member_name"] for one in answer.json["items"]}[month.zoe] is None
    bad = client.get("/api/v1/statements?month=2026-13", headers=bearer(token))
    assert bad.status_code == 422 and bad.json["reason"] == "invalid_request"
    assert "month" in bad.json["fields"]


def test_an_erased_member_is_a_tombstone_and_never_named(
    client: FlaskClient, session: Session, clock: Any
) -> None:
    month = arrange_month(session, clock)
    token = make_token(client)
    members = all_items(client, token, "/api/v1/members", per_page=2)

    assert [m["id"] for m in members] == sorted(m["id"] for m in members)
    tombstone = next(m for m in members if m["id"] == month.zoe)
    assert tombstone["erased"] is True and tombstone["erased_at"]
    assert {k for k, v in tombstone.items() if v is not None} == {"id", "erased", "erased_at"}
    one = client.get(f"/api/v1/members/{month.zoe}", headers=bearer(token))
    assert one.json == tombstone
    ana = client.get(f"/api/v1/members/{month.ana}", headers=bearer(token)).json
    assert (ana["given_name"], ana["display_name"], ana["plan"], ana["erased"]) == (
        "Ana",
        "Ana L.",
        "payg",
        False,
    )
    bob = client.get(f"/api/v1/members/{month.bob}", headers=bearer(token)).json
    assert bob["plan"] == "pack"
    missing = client.get("/api/v1/members/999999", headers=bearer(token))
    assert missing.status_code == 404 and missing.json["reason"] == "not_found"

    everything = json.dumps(
        [
            members,
            all_items(client, token, "/api/v1/visits", **OCTOBER, per_page=500),
            client.get("/api/v1/statements?month=2026-10", headers=bearer(token)).json,
        ]
    )
    assert "Zoé" not in everything and "Secret" not in everything and "zoe@" not in everything


def test_tokens_are_made_and_revoked_by_admins_audited_and_kept_as_hashes(
    client: FlaskClient, session: Session, clock: Any
) -> None:
    arrange_month(session, clock)
    log_in(client, "desk@example.org")
    assert client.get("/staff/api-tokens").status_code == 403  # staff, not admin
    client.post("/staff/logout", data={"csrf_token": csrf_of(client)})

    token = make_token(client, "Tableau de bord")
    assert token.startswith("pa_")
    row = session.scalar(select(ApiToken))
    assert row is not None and row.name == "Tableau de bord" and row.scope.value == "read"
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert row.created_by == "nadine@example.org" and row.last_used_at is None
    session.commit()  # the test's session writes: it must not hold the database

    assert client.get("/api/v1/members", headers=bearer(token)).status_code == 200
    session.expire_all()
    assert session.get(ApiToken, row.id).last_used_at == clock()
    session.commit()

    log_in(client, "nadine@example.org")
    listed = client.get("/staff/api-tokens").text
    assert "Tableau de bord" in listed and token not in listed  # shown once only
    revoked = client.post(
        f"/staff/api-tokens/{row.id}/revoke", data={"csrf_token": csrf_of(client)}
    )
    assert revoked.status_code == 302
    assert "révoqué" in client.get("/staff/api-tokens").text

    answer = client.get("/api/v1/members", headers=bearer(token))
    assert answer.status_code == 401
    assert answer.json == {
        "status": "error",
        "reason": "invalid_token",
        "message": "This API token is unknown or was revoked.",
    }
    actions = session.scalars(
        select(AuditEntry.action).where(AuditEntry.target == f"api_token:{row.id}")
    ).all()
    assert sorted(actions) == ["api_token.create", "api_token.revoke"]


def test_unknown_missing_and_kiosk_tokens_get_a_401_in_the_one_shape(
    client: FlaskClient, session: Session, clock: Any
) -> None:
    site = make_site(session)
    _kiosk, kiosk_token = make_kiosk(session, site)
    session.commit()
    for headers, reason in [
        ({}, "missing_token"),
        ({"Authorization": "Basic abc"}, "missing_token"),
        (bearer("pa_not-a-token"), "invalid_token"),
        (bearer(kiosk_token), "invalid_token"),  # a kiosk's token reads nothing here
    ]:
        answer = client.get("/api/v1/visits", headers=headers)
        assert answer.status_code == 401, headers
        assert answer.json["status"] == "error" and answer.json["reason"] == reason
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_a_token_changes_nothing(
    client: FlaskClient, session: Session, clock: Any, method: str
) -> None:
    month = arrange_month(session, clock)
    token = make_token(client)
    for path in ("/api/v1/visits", "/api/v1/members", f"/api/v1/members/{month.ana}"):
        answer = getattr(client, method)(path, json={}, headers=bearer(token))
        assert answer.status_code == 405, path
        assert answer.json["reason"] == "method_not_allowed" and "GET" in answer.headers["Allow"]
    # ...nor may an API token upload taps as a kiosk would
    taps = client.post("/api/v1/taps", json={"taps": []}, headers=bearer(token))
    assert taps.status_code == 401


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"from": "2026-10-31", "to": "2026-10-01"}, "to"),
        ({"from": "2025-01-01", "to": "2026-10-31"}, "to"),
        ({"from": "someday"}, "from"),
        ({"site": "nowhere"}, "site"),
        ({"per_page": "501"}, "per_page"),
        ({"page": "0"}, "page"),
    ],
)
def test_bad_arguments_are_named(
    client: FlaskClient, session: Session, clock: Any, query: dict[str, str], field: str
) -> None:
    arrange_month(session, clock)
    token = make_token(client)
    answer = client.get("/api/v1/visits", query_string=query, headers=bearer(token))
    assert answer.status_code == 422
    assert answer.json["reason"] == "invalid_request" and field in answer.json["fields"]


def test_a_token_is_rate_limited(settings: Settings, clock: Any) -> None:
    tight = settings.model_copy(update={"api": ApiSection(token_requests_per_minute=3)})
    app = create_app(tight, clock=clock)
    runtime: Runtime = app.extensions["presence"]
    from server.store import migrate
    from server.store.models import Base

    Base.metadata.create_all(runtime.engine)
    migrate.stamp_head(runtime.engine)
    with runtime.transaction() as session:
        from server.domain.api_tokens import issue_token

        _row, token = issue_token(session, "busy", "nadine@example.org", clock())
    client = app.test_client()
    answers = [client.get("/api/v1/members", headers=bearer(token)) for _ in range(4)]
    runtime.engine.dispose()
    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    assert answers[-1].json["reason"] == "too_many_requests"


def test_the_openapi_document_describes_the_read_api(client: FlaskClient) -> None:
    document = client.get("/api/openapi.json").json
    schemes = document["components"]["securitySchemes"]
    assert schemes["apiToken"] == schemes["apiToken"] | {"type": "http", "scheme": "bearer"}
    for path in ("/api/v1/visits", "/api/v1/members", "/api/v1/members/{member_id}"):
        get = document["paths"][path]["get"]
        assert get["security"] == [{"apiToken": []}], path
        assert {"200", "401", "429"} <= set(get["responses"]), path
        assert set(document["paths"][path]) == {"get"} | (
            {"parameters"} & set(document["paths"][path])
        )
    statements = document["paths"]["/api/v1/statements"]["get"]
    assert "month" in {parameter["name"] for parameter in statements["parameters"]}
