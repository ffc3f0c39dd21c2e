"""Guests: checked in and out at the kiosk like members, counted, billed to their host or
free, invited ahead with a pass for their day only, and still themselves once members."""

from __future__ import annotations

import io
import uuid
from datetime import date, timedelta
from typing import Any

from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.domain.billing import month_statements, statement
from server.domain.credentials import token_of
from server.domain.guests import became_member, invite
from server.domain.photos import store_photo
from server.jobs import scheduler as jobs
from server.runtime import Runtime
from server.settings import BillingSection
from server.store.models import AuditEntry, GuestDay, Kiosk, Member, Outcome, Tap, Visit
from tests.conftest import FrozenClock, at
from tests.factories import (
    badge_tap,
    guest_json,
    leaving_json,
    make_badge,
    make_kiosk,
    make_member,
    make_site,
    tap_json,
    upload,
)

NOV = date(2026, 11, 1)


def arrange(session: Session) -> tuple[Any, Member, Member, str]:
    site = make_site(session)
    host = make_member(session, given_name="Nadine", host_consent_at=at(8))
    shy = make_member(session, given_name="Samir")  # not listed as a host
    _kiosk, token = make_kiosk(session, site)
    session.commit()
    return site, host, shy, token


def heartbeat(client: FlaskClient, token: str) -> Any:
    headers = {"Authorization": f"Bearer {token}"}
    return client.post("/api/v1/heartbeat", json={}, headers=headers).json


def test_a_guest_checks_in_with_a_host_is_counted_and_checks_out(
    client: FlaskClient, session: Session, clock: FrozenClock
) -> None:
    clock.set(at(10))
    site, host, shy, token = arrange(session)
    directory = client.get("/api/v1/directory", headers={"Authorization": f"Bearer {token}"})
    assert [h["name"] for h in directory.json["hosts"]] == [f"Nadine {host.family_name}"]

    arrival = guest_json("Bob", clock(), email="bob@example.net", host=host.id)
    [result] = upload(client, token, arrival).json["results"]
    assert (result["outcome"], result["name"], result["head_count"]) == ("checked_in", "Bob", 1)
    listed = heartbeat(client, token)
    assert listed["head_count"] == 1
    assert listed["guests"] == [{"arrival": arrival["id"], "name": "Bob"}]

    again = upload(client, token, arrival).json["results"][0]  # a resent upload
    assert again == result
    assert session.scalar(select(func.count()).select_from(Member).where(Member.is_guest)) == 1
    session.rollback()  # the test's own reads must not hold the database

    clock.advance(hours=5)
    [left] = upload(client, token, leaving_json(arrival, clock())).json["results"]
    assert (left["outcome"], left["name"], left["head_count"]) == ("checked_out", "Bob", 0)
    assert heartbeat(client, token)["guests"] == []
    [visit] = session.scalars(select(Visit)).all()
    assert visit.minutes == 300
    [day] = session.scalars(select(GuestDay)).all()
    assert (day.host_id, day.site_id, day.day) == (host.id, site.id, date(2026, 11, 24))


def test_a_guest_is_never_lost_for_a_host_who_is_not_listed(
    client: FlaskClient, session: Session, clock: FrozenClock
) -> None:
    clock.set(at(10))
    _site, _host, shy, token = arrange(session)
    [result] = upload(client, token, guest_json("Chloé", clock(), host=shy.id)).json["results"]
    assert result["outcome"] == "checked_in"
    [day] = session.scalars(select(GuestDay)).all()
    assert day.host_id is None  # a guest of the space: nobody is billed
    tap = session.scalar(select(Tap))
    assert tap is not None and tap.reason == "guest_arrival_host_gone"
    session.rollback()


def test_a_returning_guest_is_found_by_email_and_never_takes_a_members_address(
    client: FlaskClient, session: Session, clock: FrozenClock
) -> None:
    clock.set(at(10))
    _site, host, _shy, token = arrange(session)
    upload(client, token, guest_json("Bob", clock(), email="bob@example.net"))
    clock.set(at(10, day=25))
    upload(client, token, guest_json("Bob", clock(), email="bob@example.net"))
    upload(client, token, guest_json("Eve", clock(), email=host.email))
    guests = session.scalars(select(Member).where(Member.is_guest).order_by(Member.id)).all()
    assert [(g.given_name, g.email) for g in guests] == [("Bob", "bob@example.net"), ("Eve", None)]
    assert session.scalar(select(func.count()).select_from(GuestDay)) == 3


def test_a_typed_name_is_cleaned_and_bad_guest_taps_get_a_precise_422(
    client: FlaskClient, session: Session, clock: FrozenClock
) -> None:
    *_, token = arrange(session)
    typed = ["  Bob\x1b[2J\u200b\n  Marley ", "\t\x00 ", "<b>Zoé</b>"]
    for name in typed:
        assert upload(client, token, guest_json(name, clock())).status_code == 200
    names = session.scalars(select(Member.given_name).where(Member.is_guest).order_by(Member.id))
    assert list(names) == ["Bob[2J Marley", "Invité·e", "<b>Zoé</b>"]  # escaped when shown
    session.rollback()
    read_at = clock().isoformat()
    for bad in (
        {"id": str(uuid.uuid4()), "guest": {"name": ""}, "read_at": read_at},
        {"id": str(uuid.uuid4()), "guest": {"name": "x" * 101}, "read_at": read_at},
        {"id": str(uuid.uuid4()), "guest": {"name": "Bob", "host": "1"}, "read_at": read_at},
        {"id": str(uuid.uuid4()), "guest": {"name": "Bob", "email": "bob@"}, "read_at": read_at},
        {"id": str(uuid.uuid4()), "read_at": read_at},  # nothing read
        tap_json("04A224B2C35A80", clock(), guest={"name": "Bob"}),  # two things at once
    ):
        response = upload(client, token, bad)
        assert response.status_code == 422, bad
        assert response.json["reason"] == "invalid_request"


def test_leaving_names_an_arrival_that_must_be_a_guests(
    client: FlaskClient, session: Session, clock: FrozenClock
) -> None:
    clock.set(at(10))
    site, host, _shy, token = arrange(session)
    badge = make_badge(session, host)
    session.commit()
    member_tap = tap_json(badge.value, clock())
    upload(client, token, member_tap)
    for arrival in ({"id": str(uuid.uuid4())}, member_tap):
        [result] = upload(client, token, leaving_json(arrival, clock())).json["results"]
        assert (result["outcome"], result["reason"]) == ("invalid", "unknown_guest")


def guest_day_visit(
    client: FlaskClient, token: str, clock: FrozenClock, name: str, host: Member, hours: float
) -> None:
    arrival = guest_json(name, clock(), host=host.id)
    upload(client, token, arrival)
    clock.advance(hours=hours)
    upload(client, token, leaving_json(arrival, clock()))


def test_a_guest_day_is_billed_to_the_host_or_free_as_configured(
    client: FlaskClient, session: Session, clock: FrozenClock
) -> None:
    clock.set(at(9))
    _site, host, _shy, token = arrange(session)
    guest_day_visit(client, token, clock, "Bob", host, 5)  # a full day
    clock.set(at(9, day=25))
    guest_day_visit(client, token, clock, "Chloé", host, 2)  # a half day
    now = at(20, day=30)

    billed = statement(session, host, NOV, now, BillingSection(guest_days="host"))
    assert [(g.guest, g.kind, g.price_cents) for g in billed.guests] == [
        ("Bob", "full", 1800),
        ("Chloé", "half", 1000),
    ]
    assert billed.total_cents == 2800 and billed.vat_cents == 467  # 23.33 + 4.67
    assert billed.days == []  # the host was not there

    free = statement(session, host, NOV, now, BillingSection())
    assert free.guests == [] and free.total_cents == 0
    everyone = month_statements(session, NOV, now, BillingSection(guest_days="host"))
    assert [one.member_name for one in everyone] == [f"Nadine {host.family_name}"]


def test_an_invited_guests_pass_opens_on_its_day_only(
    runtime: Runtime, session: Session, clock: FrozenClock
) -> None:
    site, host, _shy, _token = arrange(session)
    kiosk, _ = make_kiosk(session, site)
    day = date(2026, 11, 26)
    invited = invite(
        session,
        site,
        day,
        "Dora",
        "dora@example.net",
        host,
        "staff@example.org",
        at(8),
        runtime.badge_private_key,
    )
    session.commit()
    assert invited.badge_id is not None
    pass_ = session.get(Member, invited.guest_id).badges[0]  # type: ignore[union-attr]
    assert pass_.valid_on == day
    assert (token_of(session, pass_, runtime.badge_private_key) or "").startswith("P1")

    key = runtime.badge_public_key  # the pass is a signed token, checked like any QR badge
    read = token_of(session, pass_, runtime.badge_private_key)
    early = badge_tap(session, kiosk, pass_, at(10, day=25), badge_key=key, value=read)
    assert (early.outcome, early.reason) == (Outcome.REVOKED, "not_today")
    assert (
        badge_tap(session, kiosk, pass_, at(10, day=26), badge_key=key, value=read).outcome
        is Outcome.CHECKED_IN
    )
    assert (
        badge_tap(session, kiosk, pass_, at(16, day=26), badge_key=key, value=read).outcome
        is Outcome.CHECKED_OUT
    )
    late = badge_tap(session, kiosk, pass_, at(10, day=27), badge_key=key, value=read)
    assert (late.outcome, late.reason) == (Outcome.REVOKED, "not_today")


def test_an_invited_guests_pass_opens_at_its_site_only(
    runtime: Runtime, session: Session, clock: FrozenClock
) -> None:
    site, host, _shy, _token = arrange(session)
    elsewhere, _ = make_kiosk(session, make_site(session, name="La Cantine du port"))
    here, _ = make_kiosk(session, site)
    invited = invite(
        session, site, date(2026, 11, 26), "Dora", None, host, "staff", at(8),
        runtime.badge_private_key,
    )  # fmt: skip
    session.commit()
    pass_ = session.get(Member, invited.guest_id).badges[0]  # type: ignore[union-attr]

    key = runtime.badge_public_key
    read = token_of(session, pass_, runtime.badge_private_key)
    refused = badge_tap(session, elsewhere, pass_, at(10, day=26), badge_key=key, value=read)
    assert (refused.outcome, refused.reason) == (Outcome.REVOKED, "other_site")
    assert session.scalar(select(func.count()).select_from(Visit)) == 0
    welcomed = badge_tap(session, here, pass_, at(10, day=26), badge_key=key, value=read)
    assert welcomed.outcome is Outcome.CHECKED_IN


def test_a_guest_who_joins_keeps_their_visits_and_is_not_billed_for_guest_days(
    client: FlaskClient, session: Session, clock: FrozenClock
) -> None:
    clock.set(at(9))
    _site, host, _shy, token = arrange(session)
    guest_day_visit(client, token, clock, "Bob", host, 5)
    bob = session.scalar(select(Member).where(Member.is_guest))
    assert bob is not None
    became_member(bob, at(20))
    bob.sponsor_id = host.id
    badge = make_badge(session, bob)
    door = session.scalar(select(Kiosk))
    session.commit()
    assert door is not None
    badge_tap(session, door, badge, at(9, day=25))
    badge_tap(session, door, badge, at(11, day=25))
    session.commit()

    now = at(20, day=30)
    own = statement(session, bob, NOV, now, BillingSection(guest_days="host"))
    assert [(d.day.day, d.kind) for d in own.days] == [(25, "half")]  # not the 24th
    assert (
        session.scalar(select(func.count()).select_from(Visit).where(Visit.member_id == bob.id))
        == 2
    )
    hosts = statement(session, host, NOV, now, BillingSection(guest_days="host"))
    assert [g.day.day for g in hosts.guests] == [24]
    assert bob.became_member_at == at(20) and not bob.is_guest


def test_guests_who_do_not_come_back_are_erased_after_the_retention_period(
    client: FlaskClient, session: Session, clock: FrozenClock, runtime: Runtime
) -> None:
    clock.set(at(9))
    _site, host, _shy, token = arrange(session)
    guest_day_visit(client, token, clock, "Bob", host, 5)  # on the 24th
    clock.set(at(9, day=25))
    guest_day_visit(client, token, clock, "Chloé", host, 2)
    upload(client, token, guest_json("Dina", at(12, day=25), email="dina@example.org"))
    dina = session.scalar(select(Member).where(Member.given_name == "Dina"))
    assert dina is not None
    became_member(dina, at(13, day=25))  # she joined: a member is kept
    first = session.scalar(select(GuestDay).order_by(GuestDay.day, GuestDay.id))
    assert first is not None
    first.guest.photo = store_photo(runtime.settings.data_path, png())  # staff gave Bob one
    photo = runtime.settings.data_path / "photos" / first.guest.photo.removeprefix("/photos/")
    session.commit()
    assert photo.exists()

    days = runtime.settings.jobs.guest_retention_days  # 92 by default
    clock.set(at(4, day=24) + timedelta(days=days + 1))  # Bob's day is past, Chloé's not
    assert jobs.retention(runtime)  # with the old badge values of the same taps
    session.expire_all()
    bob, chloe = (session.scalar(select(Member).where(Member.id == g)) for g in guest_ids(session))
    assert bob is not None and chloe is not None
    assert (bob.given_name, bob.email, bob.erased_at is not None) == ("", None, True)
    assert not photo.exists()
    assert chloe.given_name == "Chloé" and chloe.erased_at is None
    assert dina.given_name == "Dina" and dina.erased_at is None
    # Bob's day is still counted and billed, without his name.
    visits = select(func.count()).select_from(Visit).where(Visit.member_id == bob.id)
    assert session.scalar(visits) == 1
    billed = statement(session, host, NOV, clock(), BillingSection(guest_days="host"))
    assert [g.guest for g in billed.guests] == ["", "Chloé"]
    erased = session.scalar(select(AuditEntry).where(AuditEntry.target == f"member:{bob.id}"))
    assert erased is not None and erased.actor == "retention"


def guest_ids(session: Session) -> list[int]:
    """The guests who came as guests (in order), whatever became of their names."""
    return list(session.scalars(select(GuestDay.guest_id).order_by(GuestDay.day, GuestDay.id)))[:2]


def png() -> bytes:
    picture = io.BytesIO()
    Image.new("RGB", (32, 32), "orange").save(picture, format="PNG")
    return picture.getvalue()
