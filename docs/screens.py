"""Take the screenshots of docs/screens/: the board, the staff pages, a member's phone.

    .venv/bin/python docs/screens.py        # rewrites docs/screens/*.png

Nothing to start first: it builds two throwaway Cantines in a temporary folder, runs the
real app for each (with Socket.IO) on a loopback port, and photographs the pages in
Debian's chromium (/usr/bin/chromium, through Playwright; no `playwright install`).

- The board (1920x1080) of a Cantine of 61 members (the demo's names, skills and
  projects; a mix of visibility levels), empty, then with 3 people, then 60, who arrive
  while it is open: it follows them live, without a reload.
- The demo Cantine of `presence demo` (`build_demo`, seed 2026), with badge taps on
  every day since January 2025 before its week and an evening event a month (so that
  the reports and the annual report have months to show), and two corrections on one
  member's days (a departure put right, a tap removed): the staff dashboard, that
  member's "Passages, jour par jour", the reports and the annual report at 1440 px; the
  member's own page and an event ticket on a phone (390x844, device scale 2).

It takes under a minute: about 10 s for the board, 25 s to record the history, 15 s
for the other pages. Both servers' clocks, and the browser's, are frozen on Tuesday 24
November 2026 at 11:20 (Paris); every random draw is seeded and the ticket signing key
is fixed, so a second run gives the same pictures, byte for byte on the same machine.
The PNGs are re-encoded with Pillow (`optimize=True`).
"""

from __future__ import annotations

import logging
import random
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask import Flask  # noqa: E402
from PIL import Image  # noqa: E402
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright  # noqa: E402
from sqlalchemy import event, func, select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from server import create_app  # noqa: E402
from server.cli.demo import OPEN_TO_CHAT, PEOPLE, SKILLS, WORKING_ON_FR, build_demo  # noqa: E402
from server.domain.announcements import publish  # noqa: E402
from server.domain.checkin import record_tap  # noqa: E402
from server.domain.corrections import move_end, remove_tap  # noqa: E402
from server.domain.hours import parse_weekly  # noqa: E402
from server.domain.kiosks import add_kiosk  # noqa: E402
from server.domain.links import make_member_token  # noqa: E402
from server.domain.meetups import add_event  # noqa: E402
from server.domain.presence import (  # noqa: E402
    BadgeKeys,
    IncomingTap,
    Rules,
    TapContext,
    WalkIn,
    close_expired_visits,
    opening_hours,
)
from server.domain.sites import add_site, issue_display_token  # noqa: E402
from server.domain.staff import add_staff  # noqa: E402
from server.settings import ServerSection, Settings  # noqa: E402
from server.store import migrate  # noqa: E402
from server.store.db import lookup_key  # noqa: E402
from server.store.models import (  # noqa: E402
    Badge,
    BadgeKind,
    Base,
    Kiosk,
    KioskMode,
    Member,
    Site,
    StaffRole,
    Tap,
    Visibility,
    Visit,
    VisitEnd,
)

OUT = Path(__file__).resolve().parent / "screens"
ZONE = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 11, 24, 11, 20, tzinfo=ZONE).astimezone(UTC)
CHROMIUM = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
#: Fixed, so that the ticket's QR code (an Ed25519 signature) is the same at every run.
SIGNING_KEY = "5c" * 32
STAFF = ("marie@example.org", "Marie", "screenshots only, never a real password")
DESK = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
#: The taps before the demo's week start then, so that 2026 has 2025 beside it.
HISTORY_FROM = date(2025, 1, 1)
#: How busy a month is (1 = January), and a weekday (0 = Monday), for the history.
SEASON = {1: 0.8, 2: 0.9, 3: 1.0, 4: 0.95, 5: 0.85, 6: 0.9, 7: 0.55, 8: 0.3, 9: 1.0}
WEEKDAY = {0: 0.8, 1: 1.0, 2: 1.0, 3: 1.0, 4: 0.75, 5: 0.15, 6: 0.0}
#: When people come and go (between the first two times, then the last two).
FULL_DAY = ("08:50", "10:30", "16:30", "18:55")
AFTERNOON = ("13:15", "14:30", "16:30", "18:45")
SATURDAY = ("10:00", "11:00", "12:00", "12:59")
EXTRA_GIVEN = (
    "Paul",
    "Zoé",
    "Mehdi",
    "Louise",
    "Gaël",
    "Jade",
    "Malo",
    "Lina",
    "Tristan",
    "Alix",
    "Youenn",
    "Nina",
    "Bastien",
    "Salomé",
    "Corentin",
    "Rose",
    "Ewen",
    "Lou",
    "Adrien",
    "Maud",
    "Soizic",
    "Théo",
)


# -- serving and saving -------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve(app: Flask) -> str:
    """Run the app with its sockets on a loopback port, in this process; its address."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per request
    port = free_port()
    socketio = app.extensions["socketio"]
    threading.Thread(
        target=lambda: socketio.run(app, port=port, allow_unsafe_werkzeug=True, log_output=False),
        daemon=True,
    ).start()
    base = f"http://127.0.0.1:{port}"
    for _attempt in range(50):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return base
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the app did not start on {base}")


def new_app(folder: Path) -> Flask:
    """The real app on an empty database of its own, its clock frozen at NOW."""
    folder.mkdir()
    server = ServerSection(
        data_dir=str(folder), secret_key="screenshots", badge_signing_key=SIGNING_KEY
    )
    app = create_app(Settings(server=server), clock=lambda: NOW)
    engine = app.extensions["presence"].engine
    Base.metadata.create_all(engine)
    migrate.stamp_head(engine)
    return app


def save(page: Page, name: str, **options: Any) -> Path:
    """Photograph the page; PNGs from chromium are large, Pillow's optimiser halves them."""
    page.wait_for_load_state("networkidle")
    time.sleep(0.5)  # the charts' and the live pages' first drawing
    path = OUT / name
    page.screenshot(path=path, animations="disabled", caret="hide", **options)
    with Image.open(path) as image:
        image.load()
    image.save(path, optimize=True)
    print(f"{path.relative_to(OUT.parent.parent)}  {path.stat().st_size // 1024} KiB")
    return path


def new_context(browser: Browser, **options: Any) -> BrowserContext:
    context = browser.new_context(locale="fr-FR", reduced_motion="reduce", **options)
    context.clock.set_fixed_time(NOW)  # the pages' own clocks (Date.now) agree with the server
    return context


# -- the board: 0, 3 and 60 people -------------------------------------------------------


def board_members(rng: random.Random) -> list[Member]:
    names = [(given, family, display) for given, family, display, _ in PEOPLE]
    names += [(given, "Demo", "") for given in EXTRA_GIVEN]
    levels = [Visibility.PROFILE] * 5 + [Visibility.FIRST_NAME] * 3 + [Visibility.HIDDEN] * 2
    members = []
    for index, (given, family, display) in enumerate(names[:61]):
        members.append(
            Member(
                given_name=given,
                family_name=family,
                display_name=display or given,
                email=f"board-{index}@example.org",
                skills=rng.sample(SKILLS, rng.randint(1, 3)),
                working_on=WORKING_ON_FR[index % len(WORKING_ON_FR)],
                open_to_chat_about=rng.choice(OPEN_TO_CHAT),
                visibility=levels[index % len(levels)],
            )
        )
    return members


def board(browser: Browser, folder: Path) -> None:
    rng = random.Random(7)
    app = new_app(folder)
    runtime = app.extensions["presence"]
    with runtime.transaction() as session:
        site = add_site(
            session,
            "La Cantine numérique",
            slug="cantine",
            timezone="Europe/Paris",
            capacity=70,
            hours=parse_weekly("mon-fri 09:00-19:00, sat 10:00-13:00"),
        )
        token = issue_display_token(site)
        kiosk, _ = add_kiosk(session, "porte", site, KioskMode.TOGGLE, NOW - timedelta(days=9))
        members = board_members(rng)
        session.add_all(members)
        session.flush()
        badges = []
        for index, member in enumerate(members):
            badge = Badge(member_id=member.id)
            badge.set_value(lookup_key(session), BadgeKind.NFC, f"04{index:012X}")
            session.add(badge)
            badges.append(badge.value)
        kiosk_id = kiosk.id
        # Tonight's event and an announcement, on the board's strip.
        evening = datetime(2026, 11, 24, 18, 30, tzinfo=ZONE)
        title = "Apéro numérique : votre projet en 3 minutes"
        add_event(
            session,
            site,
            title,
            evening,
            evening + timedelta(hours=2),
            "community",
            True,
            "",
            None,
            "shots",
            NOW,
        )
        publish(
            session,
            "Camille cherche un·e associé·e pour une appli de covoiturage rural.",
            NOW + timedelta(days=10),
            None,
            "shots",
            NOW,
        )

    def arrive(first: int, last: int) -> None:
        """Members first..last-1 tap in, spread over the morning."""
        with runtime.transaction() as session:
            door = session.get(Kiosk, kiosk_id)
            assert door is not None
            for index in range(first, last):
                at = NOW - timedelta(minutes=140 - index * 2 - rng.randint(0, 1))
                tap = IncomingTap(
                    uuid.UUID(int=rng.getrandbits(128)), badges[index], BadgeKind.NFC, at
                )
                record_tap(session, tap, TapContext(door, None, at, runtime.rules))

    base = serve(app)
    context = new_context(browser, viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    page.goto(f"{base}/board/cantine?token={token}")  # nobody yet: the first person of the day
    page.wait_for_function("document.body.dataset.seq !== undefined")
    save(page, "board-empty.png")
    for first, count, name in ((0, 3, "board-3.png"), (3, 60, "board-60.png")):
        arrive(first, count)  # the board follows live, without a reload
        page.wait_for_function(
            f"document.getElementById('head-count').textContent.startsWith('{count} ')"
        )
        save(page, name)
    context.close()


# -- the demo Cantine, with a history --------------------------------------------------


@contextmanager
def badge_values() -> Iterator[dict[int, str]]:
    """Each member's NFC badge value as the demo gives it (only its hash is stored), to tap
    it again for the history."""
    values: dict[int, str] = {}

    def remember(_mapper: object, _connection: object, badge: Badge) -> None:
        values[badge.member_id] = badge.value

    event.listen(Badge, "after_insert", remember)
    try:
        yield values
    finally:
        event.remove(Badge, "after_insert", remember)


def history(session: Session, badges: dict[int, str], rules: Rules, until: date) -> int:
    """Badge taps at the demo's kiosks from HISTORY_FROM to `until` (excluded): each member
    from the day they joined, more or less often, less in August; a few forget to tap out.
    Recorded through `record_tap` in time order, as the kiosks would have sent them."""
    rng = random.Random(2025)
    site = session.scalars(select(Site)).one()
    hours = opening_hours(site)
    kiosks = list(session.scalars(select(Kiosk).order_by(Kiosk.id)))
    entrance, way_out = kiosks[0], kiosks[1]
    members = list(session.scalars(select(Member).order_by(Member.id)))
    habit = {member.id: rng.uniform(0.1, 0.75) for member in members}
    planned: list[tuple[datetime, Kiosk, str]] = []
    day = HISTORY_FROM
    while day < until:
        busy = SEASON.get(day.month, 0.9) * WEEKDAY[day.weekday()]
        if not hours.periods_on(day) or (day.month == 12 and day.day > 22):
            busy = 0.0  # closed, or everyone away for Christmas
        for member in members:
            if member.created_at.date() > day or rng.random() >= habit[member.id] * busy:
                continue
            if day.weekday() == 5:
                shift = SATURDAY
            else:
                shift = FULL_DAY if rng.random() < 0.7 else AFTERNOON
            arrive, leave = window(rng, day, *shift[:2]), window(rng, day, *shift[2:])
            planned.append((arrive, entrance, badges[member.id]))
            if rng.random() > 0.04:  # else forgotten: ended at closing time
                planned.append(
                    (leave, way_out if rng.random() < 0.6 else entrance, badges[member.id])
                )
        day += timedelta(days=1)
    planned.sort(key=lambda tap: tap[0])
    for at, kiosk, badge in planned:
        tap = IncomingTap(uuid.UUID(int=rng.getrandbits(128)), badge, BadgeKind.NFC, at)
        record_tap(session, tap, TapContext(kiosk, None, at, rules))
    close_expired_visits(session, NOW)
    return len(planned)


TALKS = (  # (title, who brings it)
    ("Apéro numérique : votre projet en 3 minutes", "community"),
    ("Atelier : facturer en micro-entreprise", "partner"),
    ("Café logiciel libre", "community"),
    ("Portes ouvertes de la Cantine", "cantine"),
)


def past_events(session: Session, rules: Rules, keys: BadgeKeys) -> int:
    """An evening a month (not in August) since HISTORY_FROM, with people at the door
    (walk-ins, at the kiosk), for the annual report's events; how many came."""
    rng = random.Random(2024)
    site = session.scalars(select(Site)).one()
    entrance = session.scalars(select(Kiosk).order_by(Kiosk.id)).first()
    assert entrance is not None
    came = 0
    month = HISTORY_FROM
    while month < (NOW - timedelta(days=14)).date():
        thursday = month + timedelta(days=(3 - month.weekday()) % 7 + 7)
        month = (month + timedelta(days=32)).replace(day=1)
        if thursday.month == 8:
            continue
        title, brought_by = TALKS[thursday.month % len(TALKS)]
        starts = datetime.combine(thursday, clock_time(18, 30), ZONE)
        ends = starts + timedelta(hours=2, minutes=30)
        held = add_event(
            session,
            site,
            title,
            starts,
            ends,
            brought_by,
            True,
            "",
            None,
            STAFF[0],
            starts - timedelta(days=20),
        )
        for number in range(rng.randint(8, 26)):
            at = starts + timedelta(minutes=rng.randint(-15, 40))
            walk_in = WalkIn(held.id, f"Participant·e {number + 1}")
            tap = IncomingTap(
                uuid.UUID(int=rng.getrandbits(128)), "", BadgeKind.QR, at, walk_in=walk_in
            )
            record_tap(session, tap, TapContext(entrance, None, at, rules, keys))
            came += 1
    return came


def window(rng: random.Random, day: date, start: str, end: str) -> datetime:
    first = datetime.combine(day, clock_time.fromisoformat(start), ZONE)
    last = datetime.combine(day, clock_time.fromisoformat(end), ZONE)
    return first + timedelta(seconds=rng.randint(0, int((last - first).total_seconds())))


def correct_departure(session: Session, rules: Rules) -> int:
    """Put right the departure of a member who forgot to tap out this week; their id."""
    week = (NOW - timedelta(days=7)).astimezone(ZONE).date()
    here = select(Visit.member_id).where(Visit.checked_out_at.is_(None), Visit.closes_at > NOW)
    forgot = session.scalars(
        select(Visit)
        .where(
            Visit.ended_by == VisitEnd.AUTO,
            Visit.local_day >= week,
            Visit.member_id.not_in(here),
        )
        .order_by(Visit.local_day.desc(), Visit.id)
    ).first()
    assert forgot is not None, "the demo always has forgotten check-outs"
    member_id = forgot.member_id
    left = datetime.combine(forgot.local_day, clock_time(17, 40), ZONE)
    move_end(session, forgot.id, left, STAFF[0], "parti à 17h40, badge oublié", NOW, rules)
    return member_id


def remove_wrong_tap(
    session: Session, member_id: int, badge: str, rules: Rules, reason: str
) -> None:
    """Tap the member's badge by mistake in the middle of their latest visit ended by a
    tap (a check-out on the way to the kitchen), then remove that tap."""
    visit = session.scalars(
        select(Visit)
        .where(Visit.member_id == member_id, Visit.ended_by == VisitEnd.TAP)
        .order_by(Visit.local_day.desc())
    ).first()
    if visit is None or visit.checked_out_at is None:
        return
    kiosk = session.scalars(select(Kiosk).order_by(Kiosk.id)).first()
    assert kiosk is not None
    at = visit.checked_in_at + (visit.checked_out_at - visit.checked_in_at) / 3
    tap = IncomingTap(uuid.UUID(int=member_id), badge, BadgeKind.NFC, at)
    record_tap(session, tap, TapContext(kiosk, None, at, rules))
    wrong = session.scalars(select(Tap).where(Tap.tap_id == tap.tap_id)).one()
    remove_tap(session, member_id, wrong.id, STAFF[0], reason, NOW, rules)


def demo(browser: Browser, folder: Path) -> None:
    app = new_app(folder)
    runtime = app.extensions["presence"]
    started = time.monotonic()
    with badge_values() as badges, runtime.transaction() as session:
        build_demo(session, NOW, runtime.rules, seed=2026)
    with runtime.transaction() as session:
        first_day = session.scalar(select(func.min(Visit.local_day)))
        assert first_day is not None
        taps = history(session, badges, runtime.rules, first_day)
        keys = BadgeKeys(runtime.badge_public_key, runtime.badge_private_key)
        taps += past_events(session, runtime.rules, keys)
    print(f"the demo and {taps} taps of history in {time.monotonic() - started:.0f} s")
    with runtime.transaction() as session:
        member_id = correct_departure(session, runtime.rules)
        remove_wrong_tap(
            session,
            member_id,
            badges[member_id],
            runtime.rules,
            "passé en allant à la cuisine, pas sorti",
        )
        add_staff(session, STAFF[0], STAFF[1], StaffRole.ADMIN, STAFF[2], NOW)
        for kiosk in session.scalars(select(Kiosk)):
            kiosk.last_seen_at = NOW - timedelta(seconds=40)  # both heard from just now
        shown = session.scalars(
            select(Member).where(Member.visibility == Visibility.PROFILE).order_by(Member.id)
        ).first()
        assert shown is not None
        link = make_member_token("screenshots", shown.id, shown.link_generation)
    base = serve(app)

    context = new_context(browser, viewport=DESK)
    page = context.new_page()
    log_in(page, base)
    save(page, "staff-dashboard.png", full_page=True)
    page.goto(f"{base}/staff/members/{member_id}")
    top = page.locator("#days").bounding_box()
    assert top is not None
    clip = {"x": 0, "y": top["y"] - 24, "width": DESK["width"], "height": 1500}
    save(page, "staff-member-days.png", full_page=True, clip=clip)
    page.goto(f"{base}/staff/reports")
    save(page, "staff-reports.png", full_page=True)
    page.goto(f"{base}/staff/reports/annual?year=2026")
    save(page, "staff-annual.png", full_page=True)
    context.close()

    phone = new_context(
        browser, viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    page = phone.new_page()
    page.goto(f"{base}/me/{link}")
    save(page, "me-phone.png")
    page.goto(f"{base}/events")
    page.locator("main h2 a").first.click()
    page.get_by_label("Votre nom").fill("Léonie Dupont")
    page.get_by_role("button", name="Recevoir mon billet").click()
    expect(page.get_by_role("heading", name="Votre billet")).to_be_visible()
    save(page, "ticket-phone.png")
    phone.close()


def log_in(page: Page, base: str) -> None:
    page.goto(base + "/staff/login")
    page.get_by_label("E-mail").fill(STAFF[0])
    page.get_by_label("Mot de passe").fill(STAFF[2])
    page.get_by_role("button", name="Se connecter").click()
    expect(page.get_by_role("heading", name="Tableau de bord")).to_be_visible()


def main() -> None:
    started = time.monotonic()
    folder = Path(tempfile.mkdtemp(prefix="presence-screens-"))
    OUT.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM)
        steps: list[Callable[[Browser, Path], None]] = [board, demo]
        for step in steps:
            step(browser, folder / step.__name__)
        browser.close()
    total = sum(path.stat().st_size for path in OUT.glob("*.png"))
    print(f"{total // 1024} KiB in {OUT}, in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
