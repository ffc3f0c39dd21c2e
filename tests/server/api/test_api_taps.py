"""The kiosk API: a tap opens a visit, a replay changes nothing, the next tap closes it."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.store.models import ClockStatus, Outcome, Tap, TapKind, Visit, VisitEnd
from tests.conftest import FrozenClock, at
from tests.factories import make_badge, make_kiosk, make_member, make_site, tap_json, upload


def arrange(session: Session, **member: str):  # type: ignore[no-untyped-def]
    site = make_site(session)
    alice = make_member(session, **member)
    badge = make_badge(session, alice, value="04A224B2C35A80")
    kiosk, token = make_kiosk(session, site)
    session.commit()
    return site, alice, badge, kiosk, token


def visits(session: Session) -> list[Visit]:
    session.expire_all()
    return list(session.scalars(select(Visit).order_by(Visit.checked_in_at)))


def test_tap_opens_a_visit_and_greets_by_name(client, session, clock: FrozenClock) -> None:
    site, alice, badge, kiosk, token = arrange(session, given_name="Alice")

    response = upload(client, token, tap_json("04:a2:24:b2:c3:5a:80", clock()))

    assert response.status_code == 200
    [result] = response.json["results"]
    assert result["outcome"] == "checked_in"
    assert result["name"] == "Alice"
    assert result["head_count"] == 1
    [visit] = visits(session)
    assert visit.member_id == alice.id and visit.site_id == site.id
    assert visit.checked_in_at == clock() and visit.checked_out_at is None


def test_replayed_tap_gets_first_answer_and_changes_nothing(client, session, clock) -> None:
    *_, token = arrange(session)
    tap = tap_json("04A224B2C35A80", clock())
    first = upload(client, token, tap).json["results"][0]

    clock.advance(minutes=5)
    again = upload(client, token, tap).json["results"][0]

    assert again == first
    assert len(visits(session)) == 1
    assert visits(session)[0].checked_out_at is None
    assert session.scalar(select(func.count()).select_from(Tap)) == 1


def test_second_tap_after_debounce_checks_out(client, session, clock) -> None:
    *_, token = arrange(session)
    upload(client, token, tap_json("04A224B2C35A80", clock()))

    clock.advance(seconds=30)
    bounce = upload(client, token, tap_json("04A224B2C35A80", clock())).json["results"][0]
    clock.advance(hours=2)
    leave = upload(client, token, tap_json("04A224B2C35A80", clock())).json["results"][0]

    assert bounce["outcome"] == "duplicate"
    assert leave["outcome"] == "checked_out"
    assert leave["head_count"] == 0
    [visit] = visits(session)
    assert visit.checked_out_at == clock() and visit.ended_by is VisitEnd.TAP


def test_tap_on_leaving_after_closing_says_goodbye(client, session, clock) -> None:
    """The factory site closes at 19:00: the visit ended by itself at 19:30, and the
    member's tap at 19:45 on the way out ends it there (after 00:30, it is an arrival)."""
    *_, token = arrange(session)
    upload(client, token, tap_json("04A224B2C35A80", clock()))

    clock.set(at(19, 45))
    leave = upload(client, token, tap_json("04A224B2C35A80", clock())).json["results"][0]
    clock.set(at(0, 40, day=25))
    next_day = upload(client, token, tap_json("04A224B2C35A80", clock())).json["results"][0]

    assert (leave["outcome"], leave["name"], leave["head_count"]) == ("checked_out", "Alice", 0)
    assert next_day["outcome"] == "checked_in"
    first, second = visits(session)
    assert (first.checked_out_at, first.ended_by) == (at(19, 45), VisitEnd.TAP)
    assert second.checked_in_at == at(0, 40, day=25)


def test_wrong_or_missing_token_is_401(client, session, clock) -> None:
    arrange(session)
    wrong = upload(client, "pk_not-a-token", tap_json("04A224B2C35A80", clock()))
    missing = client.post("/api/v1/taps", json={"taps": []})

    assert wrong.status_code == 401 and wrong.json["reason"] == "invalid_token"
    assert missing.status_code == 401 and missing.json["reason"] == "missing_token"
    assert visits(session) == []


def test_unknown_badge_is_refused_and_kept_for_enrolment(client, session, clock) -> None:
    *_, kiosk, token = arrange(session)
    result = upload(client, token, tap_json("04FFFFFFFFFFFF", clock())).json["results"][0]

    assert result["outcome"] == "unknown_badge" and result["name"] is None
    tap = session.scalar(select(Tap))
    assert tap.outcome is Outcome.UNKNOWN_BADGE
    assert tap.badge_value == "04FFFFFFFFFFFF" and tap.kiosk_id == kiosk.id
    assert visits(session) == []


def test_revoked_badge_and_archived_member_are_refused(client, session, clock) -> None:
    site, alice, badge, kiosk, token = arrange(session)
    bob = make_member(session, given_name="Bob", archived_at=clock())
    make_badge(session, bob, value="04BBBBBBBBBBBB")
    badge.revoked_at = clock()
    session.commit()

    results = upload(
        client, token, tap_json("04A224B2C35A80", clock()), tap_json("04BBBBBBBBBBBB", clock())
    ).json["results"]

    assert [r["outcome"] for r in results] == ["revoked", "archived"]
    assert visits(session) == []


def test_malformed_badge_is_stored_void_and_acknowledged(client, session, clock) -> None:
    *_, token = arrange(session)
    bad = tap_json("not hex at all", clock())
    good = tap_json("04A224B2C35A80", clock())

    response = upload(client, token, bad, good)

    assert response.status_code == 200
    void, ok = response.json["results"]
    assert void["outcome"] == "invalid" and void["reason"] == "malformed_badge"
    assert ok["outcome"] == "checked_in"
    stored = session.scalar(select(Tap).where(Tap.tap_id == uuid.UUID(bad["id"])))
    assert stored.kind is TapKind.VOID and stored.reason == "malformed_badge"


def test_time_comes_from_the_kiosk_monotonic_clock(client, session, clock) -> None:
    """A Pi whose wall clock stepped by an hour (NTP) still places taps right."""
    *_, token = arrange(session)
    wrong_wall = at(9)  # the kiosk believed it was 9:00; it was really 9:58
    tap = tap_json("04A224B2C35A80", wrong_wall, monotonic=1000.0, boot_id="boot-a")
    body = {"monotonic": 1120.0, "boot_id": "boot-a", "wall": at(11).isoformat()}

    upload(client, token, tap, clock=body)

    stored = session.scalar(select(Tap))
    assert stored.clock is ClockStatus.CORRECTED
    assert stored.occurred_at == at(9, 58)
    assert stored.read_at == wrong_wall
    assert visits(session)[0].checked_in_at == at(9, 58)


def test_tap_from_an_earlier_boot_keeps_its_wall_time_flagged(client, session, clock) -> None:
    *_, token = arrange(session)
    tap = tap_json("04A224B2C35A80", at(9, 30), monotonic=50.0, boot_id="old-boot")

    upload(client, token, tap, clock={"monotonic": 10.0, "boot_id": "new-boot"})

    stored = session.scalar(select(Tap))
    assert stored.clock is ClockStatus.UNVERIFIED and stored.occurred_at == at(9, 30)


def test_late_tap_from_offline_kiosk_lands_where_it_belongs(client, session, clock) -> None:
    """Arrival at 9:00 reaches the server after the 12:00 departure: one visit 9:00-12:00."""
    *_, token = arrange(session)
    clock.set(at(12))
    leave = tap_json("04A224B2C35A80", at(12))
    arrive = tap_json("04A224B2C35A80", at(9))

    upload(client, token, leave)
    upload(client, token, arrive)

    [visit] = visits(session)
    assert (visit.checked_in_at, visit.checked_out_at) == (at(9), at(12))


def test_same_tap_sent_concurrently_is_stored_once(app, session, clock) -> None:
    """A kiosk retrying while its first upload is still in flight: one tap, one answer."""
    from concurrent.futures import ThreadPoolExecutor

    *_, token = arrange(session)
    session.close()
    tap = tap_json("04A224B2C35A80", clock())

    def send(_: int) -> dict:
        return upload(app.test_client(), token, tap).json

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(send, range(8)))

    assert all(answer["results"] == answers[0]["results"] for answer in answers)
    assert answers[0]["results"][0]["outcome"] == "checked_in"
    assert session.scalar(select(func.count()).select_from(Tap)) == 1
    assert len(visits(session)) == 1
