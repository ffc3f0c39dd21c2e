"""Taps read before a kiosk reboots and sent after it (issue 18): placed by what the
server heard of the kiosk's boots, or flagged and kept at their time of receipt, never
silently put hours or days away from when they happened."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.store.models import ClockStatus, Kiosk, Tap, Visit
from tests.conftest import FrozenClock, at
from tests.factories import make_badge, make_kiosk, make_member, make_site, tap_json, upload

BADGE = "04A224B2C35A80"


def arrange(session: Session, **kiosk: Any) -> tuple[Kiosk, str]:
    site = make_site(session)
    make_badge(session, make_member(session, given_name="Alice"), value=BADGE)
    made, token = make_kiosk(session, site, **kiosk)
    session.commit()
    return made, token


def clocks(boot: str, monotonic: float, wall: datetime | None = None) -> dict[str, Any]:
    """The kiosk's clocks as it sends them with an upload or a heartbeat."""
    said: dict[str, Any] = {"boot_id": boot, "monotonic": monotonic}
    return said | ({"wall": wall.isoformat()} if wall is not None else {})


def heartbeat(client: FlaskClient, token: str, clock: dict[str, Any]) -> None:
    response = client.post(
        "/api/v1/heartbeat",
        json={"version": "0.1.0", "clock": clock},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.json


def stored(session: Session, tap: dict[str, Any]) -> Tap:
    session.expire_all()
    found = session.scalar(select(Tap).where(Tap.tap_id == uuid.UUID(tap["id"])))
    assert found is not None
    return found


def visits(session: Session) -> list[tuple[datetime, datetime | None]]:
    session.expire_all()
    rows = session.scalars(select(Visit).order_by(Visit.checked_in_at))
    return [(visit.checked_in_at, visit.checked_out_at) for visit in rows]


@pytest.mark.parametrize("heartbeat_first", [True, False], ids=["heartbeat first", "upload first"])
def test_a_kiosk_three_days_behind_after_a_reboot_makes_no_phantom_visit(
    client: FlaskClient, session: Session, clock: FrozenClock, heartbeat_first: bool
) -> None:
    """Heard from until Friday 18:00; over the weekend it lost the network and power;
    on Monday it booted (b2) with fake-hwclock's Friday time, read two taps, rebooted
    (b3) online and sent them, in two uploads. Each read says Friday morning, before
    our last contact: not believable, so kept at their time of receipt and flagged."""
    kiosk, token = arrange(session)
    clock.set(at(18, day=20))
    heartbeat(client, token, clocks("b1", 36_000.0, wall=clock()))
    arrive = tap_json(BADGE, at(9, day=20), boot_id="b2", monotonic=600.0)  # Monday 9:00
    leave = tap_json(BADGE, at(12, day=20), boot_id="b2", monotonic=11_400.0)  # 12:00

    clock.set(at(12, 31, day=23))
    if heartbeat_first:
        heartbeat(client, token, clocks("b3", 60.0, wall=clock()))
    first = upload(client, token, arrive, clock=clocks("b3", 61.0)).json["results"][0]
    clock.advance(seconds=30)
    upload(client, token, leave, clock=clocks("b3", 91.0))

    assert not [day for day, _ in visits(session) if day.day == 20], "a visit on Friday"
    for tap, received in ((arrive, at(12, 31, day=23)), (leave, clock())):
        entry = stored(session, tap)
        assert entry.clock is ClockStatus.IMPLAUSIBLE
        assert entry.occurred_at == entry.received_at == received
        assert entry.read_at == datetime.fromisoformat(tap["read_at"])  # kept, as sent
    assert visits(session) == [(at(12, 31, day=23), None)]  # the second: a bounce
    assert session.get(Kiosk, kiosk.id).clock_doubted_at == clock()

    # Sent again (its answer lost) once the server knows more: the first answer again,
    # the tap unmoved, nothing doubted anew.
    clock.advance(hours=3)
    session.rollback()  # let go of the database before the kiosk's request
    again = upload(client, token, arrive, clock=clocks("b3", 10_891.0)).json["results"][0]
    assert again == first
    assert stored(session, arrive).occurred_at == at(12, 31, day=23)
    assert session.get(Kiosk, kiosk.id).clock_doubted_at == at(12, 31, 30, day=23)


@pytest.mark.parametrize("heartbeat_first", [True, False], ids=["heartbeat first", "upload first"])
def test_a_kiosk_two_hours_behind_whose_boot_we_heard_from_is_placed_exactly(
    client: FlaskClient, session: Session, clock: FrozenClock, heartbeat_first: bool
) -> None:
    """b1 began at 7:00 (its heartbeat at 8:00 said so) with a clock two hours behind;
    it read a check-in at 9:00 and a check-out at 11:00 offline, rebooted and sent them
    from b2. Placed by b1's start and their monotonic time: 9:00 and 11:00 exactly."""
    _kiosk, token = arrange(session)
    clock.set(at(8))
    heartbeat(client, token, clocks("b1", 3600.0, wall=at(6)))
    arrive = tap_json(BADGE, at(7), boot_id="b1", monotonic=7200.0)
    leave = tap_json(BADGE, at(9), boot_id="b1", monotonic=14_400.0)

    clock.set(at(11, 31))
    if heartbeat_first:
        heartbeat(client, token, clocks("b2", 60.0, wall=at(11, 31)))
    upload(client, token, arrive, leave, clock=clocks("b2", 61.0))

    assert [
        (stored(session, t).occurred_at, stored(session, t).clock) for t in (arrive, leave)
    ] == [
        (at(9), ClockStatus.CORRECTED),
        (at(11), ClockStatus.CORRECTED),
    ]
    assert visits(session) == [(at(9), at(11))]


def test_spooled_taps_of_an_unknown_boot_keep_their_times_across_several_uploads(
    client: FlaskClient, session: Session, clock: FrozenClock
) -> None:
    """A kiosk whose clock was right (NTP) read taps offline in b2, then sent them from
    b3 in two batches, after a heartbeat: neither the heartbeat nor the first batch
    makes the second batch's older tap look impossible."""
    kiosk, token = arrange(session)
    clock.set(at(8))
    heartbeat(client, token, clocks("b1", 3600.0, wall=clock()))
    arrive = tap_json(BADGE, at(9), boot_id="b2", monotonic=600.0)
    leave = tap_json(BADGE, at(12), boot_id="b2", monotonic=11_400.0)

    clock.set(at(12, 31))
    heartbeat(client, token, clocks("b3", 60.0, wall=clock()))
    upload(client, token, arrive, clock=clocks("b3", 61.0))
    clock.advance(seconds=1)
    upload(client, token, leave, clock=clocks("b3", 62.0))

    assert [stored(session, tap).clock for tap in (arrive, leave)] == [ClockStatus.UNVERIFIED] * 2
    assert visits(session) == [(at(9), at(12))]
    assert session.get(Kiosk, kiosk.id).clock_doubted_at is None


def test_a_new_kiosks_first_upload(
    client: FlaskClient, session: Session, clock: FrozenClock
) -> None:
    """Never heard from: its own boot's taps are placed by the monotonic clock, an
    earlier boot's by their wall time if it is not long before the kiosk was created;
    and the server now knows its boot."""
    kiosk, token = arrange(session, created_at=at(9, day=23))
    earlier = tap_json(BADGE, at(9, 15), boot_id="b0", monotonic=60.0)
    ancient = tap_json("04BBBBBBBBBBBB", at(9, day=1), boot_id="b0", monotonic=90.0)
    own = tap_json(BADGE, at(3), boot_id="b1", monotonic=1200.0)  # its wall said 3:00

    response = upload(client, token, earlier, ancient, own, clock=clocks("b1", 1800.0))

    assert response.status_code == 200
    placed = [
        (stored(session, t).occurred_at, stored(session, t).clock) for t in (earlier, ancient, own)
    ]
    assert placed == [
        (at(9, 15), ClockStatus.UNVERIFIED),
        (at(10), ClockStatus.IMPLAUSIBLE),
        (at(9, 50), ClockStatus.CORRECTED),
    ]
    session.expire_all()
    known = session.get(Kiosk, kiosk.id)
    assert (known.boot_id, known.boot_started_at) == ("b1", at(9, 30))
    assert known.heard_before_boot_at is None and known.last_seen_at == at(10)
    assert known.clock_doubted_at == at(10)


def test_the_same_boot_is_placed_as_before_whatever_the_server_remembers(
    client: FlaskClient, session: Session, clock: FrozenClock
) -> None:
    _kiosk, token = arrange(session)
    heartbeat(client, token, clocks("b1", 1000.0, wall=at(7)))  # a clock 3 h behind
    clock.advance(minutes=10)
    tap = tap_json(BADGE, at(7, 5), boot_id="b1", monotonic=1300.0)

    upload(client, token, tap, clock=clocks("b1", 1600.0))

    entry = stored(session, tap)
    assert (entry.occurred_at, entry.clock) == (at(10, 5), ClockStatus.CORRECTED)
