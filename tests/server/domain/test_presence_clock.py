"""Placing a tap in time (`presence.place_in_time`): one test per case of its table.

A kiosk boots as "b1", is heard from, reboots (maybe more than once, maybe offline) and
uploads from "b3"; `at(hour, minute, day=...)` gives Paris times in November 2026.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from server.domain.presence import IncomingTap, KioskClock, KioskMemory, Rules, place_in_time
from server.store.models import BadgeKind, ClockStatus
from tests.conftest import at

RULES = Rules()
CREATED = at(9, day=2)
RECEIVED = at(12, 30)


def read(
    read_at: datetime, boot_id: str | None = None, monotonic: float | None = None
) -> IncomingTap:
    """A badge read the kiosk says it made at `read_at`, in boot `boot_id`."""
    return IncomingTap(uuid.uuid4(), "04A224B2C35A80", BadgeKind.NFC, read_at, monotonic, boot_id)


def heard(**known: object) -> KioskMemory:
    """A kiosk heard from in boot b1 (begun at 7:00) until 8:00, its clock right."""
    values: dict[str, object] = {
        "created_at": CREATED,
        "boots": {"b1": at(7)},
        "last_boot": "b1",
        "last_seen_at": at(8),
        "heard_before_boot_at": at(18, day=23),
        "skew": timedelta(0),
    }
    return KioskMemory(**(values | known))  # type: ignore[arg-type]


#: The upload comes from boot b3, begun 30 minutes before it was received.
UPLOAD = KioskClock(monotonic=1800.0, boot_id="b3")


def test_a_tap_from_the_uploads_own_boot_is_placed_by_its_monotonic_clock() -> None:
    tap = read(at(3), "b3", monotonic=600.0)  # the wall said 3:00; 20 minutes before

    assert place_in_time(tap, UPLOAD, RECEIVED, heard(), RULES) == (
        at(12, 10),
        ClockStatus.CORRECTED,
    )


def test_a_tap_later_than_its_own_upload_by_the_monotonic_clock_is_implausible() -> None:
    tap = read(at(12), "b3", monotonic=1900.0)

    assert place_in_time(tap, UPLOAD, RECEIVED, heard(), RULES) == (
        RECEIVED,
        ClockStatus.IMPLAUSIBLE,
    )


def test_a_tap_from_a_boot_we_heard_from_is_placed_by_that_boots_start() -> None:
    """b1 began at 7:00 (we heard it): its wall clock, two hours behind, does not matter."""
    tap = read(at(7, 30), "b1", monotonic=9000.0)

    placed = place_in_time(tap, UPLOAD, RECEIVED, heard(skew=timedelta(hours=-2)), RULES)

    assert placed == (at(9, 30), ClockStatus.CORRECTED)


def test_the_boot_before_the_last_one_heard_is_remembered_too() -> None:
    """The kiosk's first heartbeat after a reboot comes before its upload: the server
    has heard from b3 already, and still places b1's taps."""
    memory = heard(boots={"b1": at(7), "b3": at(12)}, last_boot="b3", last_seen_at=at(12, 1))

    placed = place_in_time(read(at(5), "b1", monotonic=3600.0), UPLOAD, RECEIVED, memory, RULES)

    assert placed == (at(8), ClockStatus.CORRECTED)


def test_a_tap_placed_by_a_known_boot_after_its_receipt_is_implausible() -> None:
    tap = read(at(9), "b1", monotonic=10 * 3600.0)  # 17:00, received at 12:30

    assert place_in_time(tap, UPLOAD, RECEIVED, heard(), RULES) == (
        RECEIVED,
        ClockStatus.IMPLAUSIBLE,
    )


def test_an_unknown_boots_tap_older_than_our_last_contact_is_implausible() -> None:
    """b2 was never heard from: the wall clock, three days behind (fake-hwclock), put
    the tap before the last time b1 spoke to us, which cannot be."""
    tap = read(at(10, day=21), "b2", monotonic=300.0)

    assert place_in_time(tap, UPLOAD, RECEIVED, heard(), RULES) == (
        RECEIVED,
        ClockStatus.IMPLAUSIBLE,
    )


def test_an_unknown_boots_tap_after_our_last_contact_keeps_its_wall_time() -> None:
    tap = read(at(11), "b2", monotonic=300.0)

    assert place_in_time(tap, UPLOAD, RECEIVED, heard(), RULES) == (
        at(11),
        ClockStatus.UNVERIFIED,
    )


def test_the_floor_is_the_last_contact_before_the_uploads_boot_not_its_own_contacts() -> None:
    """We heard b3 (a heartbeat, an earlier batch) since b1: a b2 tap from 9:00 is
    still after our last contact *before b3*, which is what bounds it."""
    memory = heard(
        boots={"b1": at(7), "b3": at(12)},
        last_boot="b3",
        last_seen_at=at(12, 20),
        heard_before_boot_at=at(8),
    )

    assert place_in_time(read(at(9), "b2", 60.0), UPLOAD, RECEIVED, memory, RULES) == (
        at(9),
        ClockStatus.UNVERIFIED,
    )
    assert place_in_time(read(at(7, 59), "b2", 60.0), UPLOAD, RECEIVED, memory, RULES) == (
        RECEIVED,
        ClockStatus.IMPLAUSIBLE,
    )


def test_an_earlier_boots_tap_cannot_be_after_the_uploads_boot_began() -> None:
    """b3 began at 12:00: a tap of b2 read 'at 12:20' came from a clock ahead."""
    tap = read(at(12, 20), "b2", monotonic=300.0)

    assert place_in_time(tap, UPLOAD, RECEIVED, heard(), RULES) == (
        RECEIVED,
        ClockStatus.IMPLAUSIBLE,
    )


def test_an_unknown_boots_tap_is_not_believed_when_the_kiosk_clock_was_last_wrong() -> None:
    tap = read(at(11), "b2", monotonic=300.0)
    wrong = heard(skew=timedelta(hours=-2))
    slightly = heard(skew=timedelta(minutes=-4))

    assert place_in_time(tap, UPLOAD, RECEIVED, wrong, RULES)[1] is ClockStatus.IMPLAUSIBLE
    assert place_in_time(tap, UPLOAD, RECEIVED, slightly, RULES)[1] is ClockStatus.UNVERIFIED


def test_a_kiosk_never_heard_from_has_only_its_creation_as_a_floor() -> None:
    """Its first upload: the taps of its own boot are placed exactly; an earlier boot's
    are believed from the day before its creation on."""
    new = KioskMemory(created_at=at(9))

    assert place_in_time(read(at(1), "b3", 600.0), UPLOAD, RECEIVED, new, RULES) == (
        at(12, 10),
        ClockStatus.CORRECTED,
    )
    assert place_in_time(read(at(9, day=23), "b2", 60.0), UPLOAD, RECEIVED, new, RULES) == (
        at(9, day=23),
        ClockStatus.UNVERIFIED,
    )
    assert place_in_time(read(at(8, day=23), "b2", 60.0), UPLOAD, RECEIVED, new, RULES) == (
        RECEIVED,
        ClockStatus.IMPLAUSIBLE,
    )


def test_a_tap_without_clocks_is_judged_by_its_wall_time_alone() -> None:
    """An older kiosk (no boot ids): after our last contact before its current boot,
    not after receipt (give or take the tolerance)."""
    memory = heard()

    assert place_in_time(read(at(9)), None, RECEIVED, memory, RULES) == (
        at(9),
        ClockStatus.UNVERIFIED,
    )
    assert place_in_time(read(at(12, 34)), None, RECEIVED, memory, RULES) == (
        RECEIVED,
        ClockStatus.UNVERIFIED,
    )
    assert place_in_time(read(at(12, 36)), None, RECEIVED, memory, RULES)[1] is (
        ClockStatus.IMPLAUSIBLE
    )
    assert place_in_time(read(at(17, day=23)), None, RECEIVED, memory, RULES)[1] is (
        ClockStatus.IMPLAUSIBLE
    )


def test_a_monotonic_reading_no_kiosk_can_have_is_implausible_not_an_error() -> None:
    huge = 1e300
    own = KioskClock(monotonic=huge, boot_id="b3")

    assert place_in_time(read(at(9), "b3", 0.0), own, RECEIVED, heard(), RULES)[1] is (
        ClockStatus.IMPLAUSIBLE
    )
    assert place_in_time(read(at(9), "b1", huge), UPLOAD, RECEIVED, heard(), RULES)[1] is (
        ClockStatus.IMPLAUSIBLE
    )
    assert place_in_time(read(at(9), "b2", 0.0), own, RECEIVED, heard(), RULES) == (
        at(9),
        ClockStatus.UNVERIFIED,
    )
