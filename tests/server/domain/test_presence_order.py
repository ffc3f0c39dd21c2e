"""Visits depend on the tap log only, not on the order or batches the taps arrived in.

Each case builds a small world in a fresh in-memory database twice: once fed the log as it
happened (one tap per transaction, oldest first), once in a shuffled order, in batches of
one transaction each, with resent taps and the closing job run between batches. The
visits must come out the same, and the same again when rebuilt from scratch.
"""

from __future__ import annotations

import itertools
import random
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

from hypothesis import event, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session, aliased, sessionmaker

from server.domain import presence
from server.domain.checkin import record_tap, record_upload
from server.domain.presence import BadgeKeys, IncomingTap, Rules
from server.store.db import make_engine, make_session_factory, transaction
from server.store.models import (
    BadgeKind,
    Base,
    Kiosk,
    KioskMode,
    Member,
    OpeningException,
    Site,
    Tap,
    TapKind,
    Visit,
    VisitEnd,
)
from tests.factories import make_badge, make_kiosk, make_member, make_site

PARIS = ZoneInfo("Europe/Paris")
START = datetime(2026, 11, 24, 7, 0, tzinfo=PARIS)  # Tuesday, before opening
HALF_HOURS = 3 * 48  # the taps fall within three days of START
RECEIVED = datetime(2026, 11, 28, tzinfo=UTC)  # every upload arrives after the last tap
FAR = datetime(2027, 1, 1, tzinfo=UTC)
KEYS = BadgeKeys(b"")  # NFC reads only: no QR token to check

# Site 0: weekdays 9-19, and on Wednesday 25 an evening event until 01:00 Thursday.
# Site 1: every day 8-12 and 14-22, but closed on Thursday 26.
SITES: tuple[dict[str, Any], ...] = (
    {
        "hours": {day: [["09:00", "19:00"]] for day in ("mon", "tue", "wed", "thu", "fri")},
        "exceptions": {date(2026, 11, 25): [["09:00", "01:00"]]},
    },
    {
        "hours": {
            day: [["08:00", "12:00"], ["14:00", "22:00"]]
            for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
        },
        "exceptions": {date(2026, 11, 26): []},
    },
)


@dataclass(frozen=True)
class Entry:
    """One entry of the log: a badge read at a kiosk, or a staff entry at a site."""

    member: int
    at: datetime
    tap_id: uuid.UUID
    kiosk: int | None = None
    staff: TapKind | None = None
    site: int | None = None

    @property
    def order(self) -> tuple[datetime, uuid.UUID]:
        return (self.at, self.tap_id)


@dataclass(frozen=True)
class World:
    members: int
    kiosks: tuple[tuple[int, KioskMode], ...]  # (site, mode)
    rules: Rules


@dataclass(frozen=True)
class Ids:
    members: list[int]
    badges: list[str]
    sites: list[int]
    kiosks: list[int]


#: (member, site, in, out, ended by, opening tap, closing tap, ended after closing time)
VisitRow = tuple[
    int, int, datetime, datetime | None, VisitEnd | None, uuid.UUID, uuid.UUID | None, bool
]


# -- feeding a fresh database ---------------------------------------------------------


@contextmanager
def fresh_database() -> Iterator[sessionmaker[Session]]:
    engine = make_engine("sqlite://")
    Base.metadata.create_all(engine)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()


def build(factory: sessionmaker[Session], world: World) -> Ids:
    with transaction(factory) as session:
        sites = []
        for spec in SITES:
            site = make_site(session, opening_hours=spec["hours"])
            for day, hours in spec["exceptions"].items():
                site.exceptions.append(OpeningException(day=day, hours=hours))
            sites.append(site)
        members, badges = [], []
        for n in range(world.members):
            member = make_member(session, given_name=f"M{n}")
            members.append(member.id)
            badges.append(make_badge(session, member, value=f"04{n + 1:012X}").value)
        kiosks = [make_kiosk(session, sites[site], mode=mode)[0].id for site, mode in world.kiosks]
        session.flush()
        return Ids(members, badges, [site.id for site in sites], kiosks)


def record(session: Session, ids: Ids, entry: Entry, rules: Rules) -> None:
    if entry.kiosk is not None:
        kiosk = session.get(Kiosk, ids.kiosks[entry.kiosk])
        assert kiosk is not None
        badge = IncomingTap(entry.tap_id, ids.badges[entry.member], BadgeKind.NFC, entry.at)
        record_tap(session, badge, presence.TapContext(kiosk, None, RECEIVED, rules))
        return
    assert entry.staff is not None and entry.site is not None
    member = session.get(Member, ids.members[entry.member])
    site = session.get(Site, ids.sites[entry.site])
    assert member is not None and site is not None
    # A staff entry gets a fresh random id; both runs must give it the same one, since
    # the id breaks ties between entries of the same instant.
    with mock.patch.object(presence, "uuid", SimpleNamespace(uuid4=lambda: entry.tap_id)):
        presence.record_staff_entry(
            session, member, site, entry.staff, entry.at, "staff", "test", RECEIVED, rules
        )


def collect(session: Session, ids: Ids) -> Counter[VisitRow]:
    """The visits after the closing job has run far in the future, by stable names."""
    presence.close_expired_visits(session, FAR)
    session.expire_all()
    opening, closing = aliased(Tap), aliased(Tap)
    rows = session.execute(
        select(
            Visit.member_id,
            Visit.site_id,
            Visit.checked_in_at,
            Visit.checked_out_at,
            Visit.ended_by,
            opening.tap_id,
            closing.tap_id,
            Visit.closes_at,
        )
        .join(opening, Visit.in_tap_id == opening.id)
        .outerjoin(closing, Visit.out_tap_id == closing.id)
    )
    return Counter(
        (ids.members.index(m), ids.sites.index(s), start, end, ended, in_id, out_id, end > closes)
        for m, s, start, end, ended, in_id, out_id, closes in rows
    )


def upload(factory: sessionmaker[Session], ids: Ids, batch: Sequence[Entry], rules: Rules) -> None:
    """A batch as kiosks send it: each kiosk's badge reads in one upload (the batch path,
    `record_upload`), the staff entries one by one."""
    by_kiosk: dict[int, list[IncomingTap]] = {}
    for entry in batch:
        if entry.kiosk is None:
            with transaction(factory) as session:
                record(session, ids, entry, rules)
        else:
            badge = IncomingTap(entry.tap_id, ids.badges[entry.member], BadgeKind.NFC, entry.at)
            by_kiosk.setdefault(entry.kiosk, []).append(badge)
    for kiosk, taps in by_kiosk.items():
        record_upload(
            lambda: transaction(factory), ids.kiosks[kiosk], taps, None, RECEIVED, rules, KEYS
        )


def feed(
    world: World,
    batches: Sequence[Sequence[Entry]],
    jobs: Sequence[datetime | None] | None = None,
    *,
    as_uploads: bool = False,
) -> tuple[Counter[VisitRow], Counter[VisitRow]]:
    """Visits after feeding the batches (each in a transaction, or `as_uploads`, the
    closing job run at `jobs[i]` after batch i), and after rebuilding every member."""
    with fresh_database() as factory:
        ids = build(factory, world)
        for batch, job in zip(batches, jobs or [None] * len(batches), strict=True):
            assert batch
            if as_uploads:
                upload(factory, ids, batch, world.rules)
            else:
                with transaction(factory) as session:
                    for entry in batch:
                        record(session, ids, entry, world.rules)
            if job is not None:
                with transaction(factory) as session:
                    presence.close_expired_visits(session, job)
        with transaction(factory) as session:
            incremental = collect(session, ids)
        with transaction(factory) as session:
            for member_id in ids.members:
                presence.rebuild_visits(session, member_id, since=None, rules=world.rules)
            rebuilt = collect(session, ids)
    return incremental, rebuilt


def live(entries: Sequence[Entry]) -> list[list[Entry]]:
    """As it happened: oldest first, one tap per request."""
    return [[entry] for entry in sorted(entries, key=lambda e: e.order)]


# -- the property ---------------------------------------------------------------------

RULE_SETS = (
    Rules(),
    Rules(grace=timedelta(0)),
    Rules(debounce=timedelta(seconds=90), grace=timedelta(minutes=60)),
)


@st.composite
def worlds(draw: st.DrawFn) -> World:
    kiosk = st.tuples(st.sampled_from([0, 1]), st.sampled_from(list(KioskMode)))
    return World(
        members=draw(st.integers(1, 3)),
        kiosks=tuple(draw(st.lists(kiosk, min_size=1, max_size=4))),
        rules=draw(st.sampled_from(RULE_SETS)),
    )


@st.composite
def logs(draw: st.DrawFn, world: World) -> list[Entry]:
    """1-25 entries on a coarse grid: a few half-hours, plus 0-120 s to hit the debounce."""
    slots = draw(st.lists(st.integers(0, HALF_HOURS), min_size=1, max_size=6, unique=True))
    size = draw(st.integers(1, 25))
    tap_ids = draw(st.lists(st.uuids(), min_size=size + 2, max_size=size + 2, unique=True))
    entries = []
    if draw(st.booleans()):
        # Someone checked in in the morning leaves after closing (site 0 closes at 19:00,
        # site 1 at 12:00 and 22:00), by a badge or by the desk: often a late leaver,
        # else an arrival. Chance alone on the grid rarely makes one.
        day = timedelta(days=draw(st.integers(0, 2)))
        member, kiosk = draw(st.integers(0, world.members - 1)), draw(st.integers(0, 3))
        kiosk %= len(world.kiosks)
        site = world.kiosks[kiosk][0]
        later = timedelta(minutes=30 * draw(st.sampled_from([11, 12, 13, *range(24, 35)])))
        morning, evening = START + day + timedelta(hours=3), START + day + later
        entries.append(Entry(member, morning, tap_ids.pop(), staff=TapKind.STAFF_IN, site=site))
        if draw(st.booleans()):
            entries.append(Entry(member, evening, tap_ids.pop(), kiosk=kiosk))
        else:
            entries.append(
                Entry(member, evening, tap_ids.pop(), staff=TapKind.STAFF_OUT, site=site)
            )
    else:
        del tap_ids[-2:]
    for tap_id in tap_ids:
        moment = START + timedelta(
            minutes=30 * draw(st.sampled_from(slots)), seconds=30 * draw(st.integers(0, 4))
        )
        # Kiosks and staff may give their local time: only the instant counts.
        moment = moment if draw(st.booleans()) else moment.astimezone(UTC)
        member = draw(st.integers(0, world.members - 1))
        if draw(st.integers(0, 4)):
            kiosk = draw(st.integers(0, len(world.kiosks) - 1))
            entries.append(Entry(member, moment, tap_id, kiosk=kiosk))
        else:
            kind = draw(st.sampled_from([TapKind.STAFF_IN, TapKind.STAFF_OUT, TapKind.AUTO_OUT]))
            site = draw(st.sampled_from([0, 1]))
            entries.append(Entry(member, moment, tap_id, staff=kind, site=site))
    return entries


@st.composite
def cases(
    draw: st.DrawFn,
) -> tuple[World, list[Entry], list[list[Entry]], list[datetime | None]]:
    world = draw(worlds())
    entries = draw(logs(world))
    # A kiosk that did not get our answer sends the same tap again.
    badge_taps = [entry for entry in entries if entry.kiosk is not None]
    resent = draw(st.lists(st.sampled_from(badge_taps), max_size=3)) if badge_taps else []
    arrival = draw(st.permutations(entries + resent))
    cuts = sorted(draw(st.sets(st.integers(1, len(arrival)), max_size=4)) - {len(arrival)})
    batches = [arrival[a:b] for a, b in itertools.pairwise([0, *cuts, len(arrival)])]
    job_time = st.integers(0, HALF_HOURS + 48).map(lambda n: START + timedelta(minutes=30 * n))
    jobs = draw(st.lists(st.none() | job_time, min_size=len(batches), max_size=len(batches)))
    return world, entries, batches, jobs


def test_visits_do_not_depend_on_arrival_order_or_batching() -> None:
    seen: Counter[str] = Counter()

    @settings(max_examples=60, deadline=None)
    @given(cases())
    def check(case: tuple[World, list[Entry], list[list[Entry]], list[datetime | None]]) -> None:
        world, entries, batches, jobs = case
        as_it_happened, _ = feed(world, live(entries))
        shuffled, rebuilt = feed(world, batches, jobs)

        assert shuffled == as_it_happened
        assert rebuilt == shuffled  # the incremental checkpoint is exact

        visits = sum(as_it_happened.values())
        ends = {row[4] for row in as_it_happened}
        event(f"visits: {min(visits, 4)}{'+' if visits >= 4 else ''}")
        seen["cases"] += 1
        seen["several visits"] += visits > 1
        seen["several visits of one member"] += any(
            n > 1 for n in Counter(row[0] for row in as_it_happened).values()
        )
        for end in ends:
            seen[f"ended by {end}"] += 1
        seen["left after closing"] += any(row[7] for row in as_it_happened)

    check()

    # The property means something only if the cases build real histories.
    assert seen["several visits of one member"] >= seen["cases"] // 5, seen
    assert seen["ended by tap"] and seen["ended by auto"] and seen["ended by staff"], seen
    assert seen["left after closing"], seen  # the late leavers' rule takes part


def test_visits_do_not_depend_on_how_kiosks_batch_their_uploads() -> None:
    """The same property through the kiosks' batch path: many members' reads in one
    upload, some newer than the log (appended), some older (replayed), some resent."""

    @settings(max_examples=40, deadline=None)
    @given(cases())
    def check(case: tuple[World, list[Entry], list[list[Entry]], list[datetime | None]]) -> None:
        world, entries, batches, jobs = case
        as_it_happened, _ = feed(world, live(entries))
        uploaded, rebuilt = feed(world, batches, jobs, as_uploads=True)
        assert uploaded == as_it_happened
        assert rebuilt == uploaded

    check()


# -- a hand-written tricky log ---------------------------------------------------------


def paris(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, second, tzinfo=PARIS).astimezone(UTC)


def test_tricky_log_gives_the_same_visits_in_any_arrival_order() -> None:
    """An evening past midnight, a bounce, a staff fix, then a move to the other site."""
    world = World(members=1, kiosks=((0, KioskMode.TOGGLE), (1, KioskMode.TOGGLE)), rules=Rules())
    ids = [uuid.UUID(int=n) for n in range(1, 8)]
    in_event, out, bounce, back, fixed, morning, moved = (
        Entry(0, paris(25, 21), ids[0], kiosk=0),  # closes at 01:00 + 30 min
        Entry(0, paris(26, 0, 40), ids[1], kiosk=0),
        Entry(0, paris(26, 0, 40, 30), ids[2], kiosk=0),  # 30 s later: a bounce
        Entry(0, paris(26, 0, 41, 40), ids[3], kiosk=0),  # 100 s later: in again
        Entry(0, paris(26, 0, 50), ids[4], staff=TapKind.STAFF_OUT, site=0),
        Entry(0, paris(26, 9), ids[5], kiosk=0),
        Entry(0, paris(26, 11), ids[6], kiosk=1),  # site 1, closed all Thursday
    )
    log = [in_event, out, bounce, back, fixed, morning, moved]
    expected = Counter(
        [
            (0, 0, paris(25, 21), paris(26, 0, 40), VisitEnd.TAP, ids[0], ids[1], False),
            (0, 0, paris(26, 0, 41, 40), paris(26, 0, 50), VisitEnd.STAFF, ids[3], ids[4], False),
            (0, 0, paris(26, 9), paris(26, 11), VisitEnd.TAP, ids[5], ids[6], False),
            (0, 1, paris(26, 11), paris(27, 0, 30), VisitEnd.AUTO, ids[6], None, False),
        ]
    )
    shuffle = random.Random(20261124)
    orders = [log, log[::-1]] + [shuffle.sample(log, len(log)) for _ in range(30)]

    for order in orders:
        incremental, rebuilt = feed(world, [[entry] for entry in order])
        assert incremental == rebuilt == expected, [log.index(entry) for entry in order]
    # The same log in two batches, the closing job having run in between.
    assert feed(world, [log[5:], log[:5]], [FAR, None])[0] == expected


def test_late_leavers_log_gives_the_same_visits_in_any_arrival_order() -> None:
    """Leaving after closing, as the closing job and late uploads meet it: a 19:45
    check-out, a tap after the night is over, an in-only kiosk after closing, a lunch
    closure at site 1 (out during it, back after it), a visit begun after midnight."""
    world = World(
        members=3,
        kiosks=((0, KioskMode.TOGGLE), (1, KioskMode.TOGGLE), (0, KioskMode.IN)),
        rules=Rules(),
    )
    ids = [uuid.UUID(int=n) for n in range(1, 14)]
    log = [
        Entry(0, paris(24, 9, 30), ids[0], kiosk=0),
        Entry(0, paris(24, 19, 45), ids[1], kiosk=0),  # stayed late: ends the visit
        Entry(0, paris(24, 19, 45, 30), ids[2], kiosk=0),  # a bounce of that tap
        Entry(0, paris(25, 0, 45), ids[3], kiosk=0),  # the night is over: an arrival
        Entry(1, paris(24, 10), ids[4], kiosk=1),
        Entry(1, paris(24, 12, 50), ids[5], kiosk=1),  # the lunch closure: leaving
        Entry(1, paris(24, 14, 5), ids[6], kiosk=1),  # back in the afternoon
        Entry(1, paris(24, 22, 40), ids[7], kiosk=1),  # leaving after closing (22:00 + 30)
        Entry(2, paris(24, 10), ids[8], kiosk=2),
        Entry(2, paris(24, 19, 50), ids[9], kiosk=2),  # an in-only kiosk: an arrival
        Entry(2, paris(26, 0, 10), ids[10], kiosk=0),  # Wednesday's event, until 01:00
        Entry(2, paris(26, 8, 50), ids[11], kiosk=0),  # early next morning: an arrival
        Entry(2, paris(26, 9, 0), ids[12], staff=TapKind.STAFF_OUT, site=0),
    ]
    expected = Counter(
        [
            (0, 0, paris(24, 9, 30), paris(24, 19, 45), VisitEnd.TAP, ids[0], ids[1], True),
            (0, 0, paris(25, 0, 45), paris(26, 1, 30), VisitEnd.AUTO, ids[3], None, False),
            (1, 1, paris(24, 10), paris(24, 12, 50), VisitEnd.TAP, ids[4], ids[5], True),
            (1, 1, paris(24, 14, 5), paris(24, 22, 40), VisitEnd.TAP, ids[6], ids[7], True),
            (2, 0, paris(24, 10), paris(24, 19, 30), VisitEnd.AUTO, ids[8], None, False),
            (2, 0, paris(24, 19, 50), paris(25, 0, 30), VisitEnd.AUTO, ids[9], None, False),
            (2, 0, paris(26, 0, 10), paris(26, 1, 30), VisitEnd.AUTO, ids[10], None, False),
            (2, 0, paris(26, 8, 50), paris(26, 9), VisitEnd.STAFF, ids[11], ids[12], False),
        ]
    )
    shuffle = random.Random(20261206)
    orders = [log, log[::-1]] + [shuffle.sample(log, len(log)) for _ in range(12)]

    for order in orders:
        incremental, rebuilt = feed(world, [[entry] for entry in order])
        assert incremental == rebuilt == expected, [log.index(entry) for entry in order]
    # In two uploads, the closing job having run in between, after the evening.
    uploads = [log[::2], log[1::2]]
    assert feed(world, uploads, [paris(25, 12), None], as_uploads=True)[0] == expected
