"""Take the README's screenshots of the board: empty, with 3 people, with 60.

    .venv/bin/python docs/screenshots.py        # writes docs/img/board-*.png

Builds a throwaway Cantine in a temporary folder (the demo's names, skills and projects;
a mix of visibility levels), runs the real app with Socket.IO on a loopback port, and
photographs /board in Debian's chromium at 1920x1080 as people arrive. The server's
clock is frozen on a Tuesday at 11:20 (Paris), so the pictures do not depend on when
they are taken.
"""

from __future__ import annotations

import random
import socket
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from playwright.sync_api import sync_playwright  # noqa: E402

from server import create_app  # noqa: E402
from server.cli.demo import OPEN_TO_CHAT, PEOPLE, SKILLS, WORKING_ON_FR  # noqa: E402
from server.domain.announcements import publish  # noqa: E402
from server.domain.checkin import record_tap  # noqa: E402
from server.domain.hours import parse_weekly  # noqa: E402
from server.domain.kiosks import add_kiosk  # noqa: E402
from server.domain.meetups import add_event  # noqa: E402
from server.domain.presence import IncomingTap, TapContext  # noqa: E402
from server.domain.sites import add_site, issue_display_token  # noqa: E402
from server.settings import ServerSection, Settings  # noqa: E402
from server.store import migrate  # noqa: E402
from server.store.db import lookup_key  # noqa: E402
from server.store.models import Badge, BadgeKind, Base, Kiosk, KioskMode, Member, Visibility  # noqa: E402

OUT = Path(__file__).resolve().parent / "img"
NOW = datetime(2026, 11, 24, 11, 20, tzinfo=ZoneInfo("Europe/Paris")).astimezone(UTC)
CHROMIUM = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def people(rng: random.Random) -> list[Member]:
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
                email=f"{uuid.uuid4().hex[:10]}@example.org",
                skills=rng.sample(SKILLS, rng.randint(1, 3)),
                working_on=WORKING_ON_FR[index % len(WORKING_ON_FR)],
                open_to_chat_about=rng.choice(OPEN_TO_CHAT),
                visibility=levels[index % len(levels)],
            )
        )
    return members


def main() -> None:
    rng = random.Random(7)
    folder = Path(tempfile.mkdtemp(prefix="presence-shots-"))
    settings = Settings(server=ServerSection(data_dir=str(folder), secret_key="screenshots"))
    app = create_app(settings, clock=lambda: NOW)
    runtime = app.extensions["presence"]
    Base.metadata.create_all(runtime.engine)
    migrate.stamp_head(runtime.engine)
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
        members = people(rng)
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
        evening = datetime(2026, 11, 24, 18, 30, tzinfo=ZoneInfo("Europe/Paris"))
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
                tap = IncomingTap(uuid.uuid4(), badges[index], BadgeKind.NFC, at)
                record_tap(session, tap, TapContext(door, None, at, runtime.rules))

    port = free_port()
    socketio = app.extensions["socketio"]
    serve = threading.Thread(
        target=lambda: socketio.run(app, port=port, allow_unsafe_werkzeug=True, log_output=False),
        daemon=True,
    )
    serve.start()
    time.sleep(1)
    OUT.mkdir(exist_ok=True)
    url = f"http://127.0.0.1:{port}/board/cantine?token={token}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM)
        page = browser.new_page(viewport={"width": 1920, "height": 1080}, reduced_motion="reduce")
        page.goto(url)  # nobody yet: waiting for the first person of the day
        page.wait_for_function("document.body.dataset.seq !== undefined")
        time.sleep(1)
        page.screenshot(path=OUT / "board-empty.png")
        for first, count, name in ((0, 3, "board-3.png"), (3, 60, "board-60.png")):
            arrive(first, count)  # the board follows live, without a reload
            page.wait_for_function(
                f"document.getElementById('head-count').textContent.startsWith('{count} ')"
            )
            time.sleep(1)
            page.screenshot(path=OUT / name)
        browser.close()
    print("\n".join(str(OUT / name) for name in ("board-empty.png", "board-3.png", "board-60.png")))


if __name__ == "__main__":
    main()
