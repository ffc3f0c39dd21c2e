"""A believable demo Cantine: a site, two kiosks, 30 members and a week of real taps.

Everything goes through the service functions, and the history is made of badge taps
recorded through `record_tap` as the kiosks would have sent them, so the visits are
derived by the same rules as in production. The content is drawn from `random.Random(seed)`
and depends only on the seed and `now`; the kiosk tokens alone are truly random (they are
secrets).
"""

from __future__ import annotations

import random
import secrets
import shlex
import unicodedata
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.domain.announcements import publish
from server.domain.checkin import record_tap
from server.domain.hours import OpeningHours, check_periods, parse_weekly
from server.domain.kiosks import add_kiosk
from server.domain.meetups import add_event
from server.domain.members import MemberSchema, add_member, assign_badge
from server.domain.presence import (
    IncomingTap,
    Rules,
    TapContext,
    close_expired_visits,
    head_count,
    opening_hours,
)
from server.domain.sites import add_site, issue_display_token
from server.domain.staff import add_staff
from server.settings import BillingSection
from server.store.models import (
    BadgeKind,
    Kiosk,
    KioskMode,
    Member,
    OpeningException,
    Outcome,
    PackPurchase,
    Plan,
    Site,
    StaffRole,
    Visibility,
    Visit,
    VisitEnd,
)

SITE_NAME = "La Cantine"
SITE_SLUG = "cantine"
TIMEZONE = "Europe/Paris"
CAPACITY = 40
HOURS = "mon-fri 09:00-19:00, sat 10:00-13:00"
EVENT_HOURS = [["09:00", "23:00"]]
EVENT_NOTE = "Apéro-code : soirée ouverte à tous, jusqu'à 23:00"
ENTRANCE, EXIT = "porte-entree", "porte-sortie"
MEMBER_COUNT = 30
PRESENT_NOW = 6
HISTORY_DAYS = 7
BASE_URL = "http://127.0.0.1:5000"
API_URL = f"{BASE_URL}/api/v1/taps"
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

#: (given name, family name, display name, language)
PEOPLE: tuple[tuple[str, str, str, str], ...] = (
    ("Camille", "Le Gall", "", "fr"),
    ("Yann", "Kerbrat", "", "fr"),
    ("Maëlle", "Guivarc'h", "", "fr"),
    ("Thomas", "Morvan", "", "fr"),
    ("Léa", "Bernard", "", "fr"),
    ("Nicolas", "Petit", "Nico", "fr"),
    ("Sophie", "Durand", "", "fr"),
    ("Julien", "Moreau", "", "fr"),
    ("Chloé", "Lefèvre", "", "fr"),
    ("Antoine", "Girard", "", "fr"),
    ("Manon", "Roux", "", "fr"),
    ("Hugo", "Fournier", "", "fr"),
    ("Inès", "Benali", "", "fr"),
    ("Mathieu", "Le Roux", "", "fr"),
    ("Élodie", "Tanguy", "", "fr"),
    ("Gwenaël", "Cornec", "Gwen", "fr"),
    ("Sarah", "Cohen", "", "fr"),
    ("Karim", "Haddad", "", "fr"),
    ("Aurélie", "Marchand", "", "fr"),
    ("Pierre-Yves", "Quéré", "", "fr"),
    ("Anaïs", "Caradec", "", "fr"),
    ("Baptiste", "Lemoine", "", "fr"),
    ("Nolwenn", "Le Bihan", "", "fr"),
    ("Romain", "Fontaine", "", "fr"),
    ("Clémence", "Gauthier", "", "fr"),
    ("Lucas", "Perrin", "", "fr"),
    ("Fatou", "Diallo", "", "fr"),
    ("Jean-Baptiste", "Riou", "JB", "fr"),
    ("Marion", "Henry", "", "fr"),
    ("Erwan", "Salaün", "", "fr"),
    ("Céline", "Prigent", "", "fr"),
    ("Olivier", "Blanc", "", "fr"),
    ("Justine", "Bouvier", "", "fr"),
    ("Ana", "Souza", "", "fr"),
    ("Priya", "Raman", "", "en"),
    ("Lukas", "Schneider", "", "en"),
    ("Giulia", "Rossi", "", "en"),
    ("Tom", "O'Brien", "", "en"),
    ("Mei", "Lin", "", "en"),
)

SKILLS = (
    "Python",
    "JavaScript",
    "accessibilité",
    "UX",
    "UI design",
    "comptabilité",
    "impression 3D",
    "droit du numérique",
    "photo",
    "vidéo",
    "data",
    "WordPress",
    "financement participatif",
    "Arduino",
    "SEO",
    "animation d'ateliers",
    "gestion de projet",
    "logiciel libre",
    "RGPD",
    "illustration",
    "traduction",
    "marketing",
)

WORKING_ON_FR = (
    "une appli de covoiturage pour le Finistère",
    "le site d'une AMAP de Morlaix",
    "un jeu de plateau sur la biodiversité marine",
    "une boutique en ligne de céramique",
    "la refonte accessible du site de la mairie",
    "un podcast sur les métiers de la mer",
    "une plateforme de réemploi de matériaux",
    "ma thèse en sociologie des tiers-lieux",
    "un outil de réservation pour les gîtes",
    "une carte des fablabs bretons",
    "une application de suivi des ruches",
    "la campagne de financement d'un album",
    "un module de paiement pour les associations",
    "la traduction d'une doc technique",
    "un atelier de code pour collégiens",
    "la création de ma micro-entreprise",
    "une appli pour réserver un créneau au lavoir",
    "un tableau de bord pour une coopérative laitière",
    "un site vitrine pour des artisans",
    "la numérisation des archives d'un club de voile",
    "un chatbot pour l'office de tourisme",
    "une série de vidéos sur le compostage",
    "un logiciel de caisse libre",
    "les statuts d'une SCIC",
    "un capteur de qualité de l'air à bas coût",
    "un roman graphique",
)

WORKING_ON_EN = (
    "a remote job board for rural areas",
    "my PhD on coastal erosion data",
    "a language-exchange app",
    "a design system for an NGO",
)

OPEN_TO_CHAT = (
    "le vélo et les mobilités douces",
    "l'entrepreneuriat en milieu rural",
    "le logiciel libre",
    "la photo argentique",
    "les monnaies locales",
    "trouver des bêta-testeurs",
    "le statut d'auto-entrepreneur",
    "les subventions régionales",
    "l'accessibilité numérique",
    "la cuisine végétarienne",
    "le surf",
    "les jeux de société",
    "l'impression 3D",
    "le télétravail",
    "",
    "",
)

#: How many members have each plan, each visibility (the order is shuffled).
PLANS = [Plan.MONTHLY] * 8 + [Plan.PACK] * 8 + [Plan.PAYG] * 10 + [Plan.FREE] * 4
VISIBILITIES = [Visibility.PROFILE] * 15 + [Visibility.FIRST_NAME] * 8 + [Visibility.HIDDEN] * 7
#: How likely a member is to come on a weekday, by plan.
ATTENDANCE = {Plan.MONTHLY: 0.75, Plan.PACK: 0.4, Plan.PAYG: 0.25, Plan.FREE: 0.3}
#: Weekday (0 = Monday) -> how busy the day is.
BUSY = {0: 0.8, 1: 1.0, 2: 1.0, 3: 1.0, 4: 0.75, 5: 0.15, 6: 0.0}
FORGET_CHECKOUT = 0.06
MIN_FORGOTTEN = 2


class DemoError(Exception):
    """The demo cannot be built here (the database is not empty)."""


@dataclass
class _Person:
    member: Member
    badge: str
    plan: Plan
    regularity: float


@dataclass
class _Visit:
    person: _Person
    arrive: datetime
    leave: datetime | None  # None: forgot to tap out
    exit_kiosk: Kiosk


@dataclass(frozen=True)
class _PlannedTap:
    at: datetime
    order: int
    kiosk: Kiosk
    tap: IncomingTap


def build_demo(session: Session, now: datetime, rules: Rules, *, seed: int = 2026) -> list[str]:
    """Fill an empty database with a demo Cantine; return what to print."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    _refuse_if_not_empty(session)
    rng = random.Random(seed)

    site = add_site(
        session,
        SITE_NAME,
        slug=SITE_SLUG,
        timezone=TIMEZONE,
        capacity=CAPACITY,
        hours=parse_weekly(HOURS),
    )
    site.created_at = now - timedelta(days=550)
    hours = OpeningHours(site.timezone, site.opening_hours)
    today = hours.local_date(now)
    past_days = [today - timedelta(days=back) for back in range(HISTORY_DAYS, 0, -1)]
    event_day = next(day for day in past_days if day.weekday() == 3)  # the Thursday
    site.exceptions.append(
        OpeningException(
            day=event_day, hours=check_periods(EVENT_HOURS, str(event_day)), note=EVENT_NOTE
        )
    )
    session.flush()
    hours = opening_hours(site)

    installed = now - timedelta(days=21 + rng.randint(0, 7))
    entrance, entrance_token = add_kiosk(session, ENTRANCE, site, KioskMode.TOGGLE, installed)
    exit_, exit_token = add_kiosk(session, EXIT, site, KioskMode.OUT, installed)

    people = _members(session, rng, now)

    visits: list[_Visit] = []
    for day in past_days:
        visits.extend(_day_of_visits(rng, hours, day, event_day, people, entrance, exit_))
    _ensure_forgotten(visits)

    present: list[_Person] = []
    open_since = _current_opening(hours, now)
    if open_since is not None:
        present = rng.sample(people, PRESENT_NOW)
        start = open_since - timedelta(minutes=15)
        end = now - timedelta(minutes=1)
        arrivals = sorted(_between(rng, start, end) for _ in present)
        for person, arrive in zip(present, arrivals, strict=True):
            visits.append(_Visit(person, arrive, None, exit_))

    taps = _taps(rng, visits, entrance)
    outcomes: Counter[Outcome] = Counter()
    for planned in taps:
        result = _post(session, planned, rules)
        outcomes[result] += 1
        planned.kiosk.last_seen_at = planned.at
    close_expired_visits(session, now)
    _community(session, site, people, now, rng)
    session.flush()

    return _summary(
        session,
        site=site,
        now=now,
        rules=rules,
        seed=seed,
        event_day=event_day,
        people=people,
        present=present,
        kiosks=[(entrance, entrance_token), (exit_, exit_token)],
        board_token=issue_display_token(site),
        staff_password=_front_desk(session, now),
        tap_count=len(taps),
        outcomes=outcomes,
        demo_person=next(p for p in people if p not in present),
    )


EVENTS = [  # (days from today, start, end, title, who brings it)
    (0, "18:30", "21:00", "Apéro numérique : présentez votre projet en 3 minutes", "community"),
    (6, "14:00", "17:00", "Atelier RGPD pour les associations", "partner"),
    (13, "19:00", "22:00", "Soirée jeux vidéo indépendants", "cantine"),
]
NOTICES = [  # (days shown, text)
    (14, "Camille cherche un·e associé·e pour une appli de covoiturage rural : venez en parler !"),
    (3, "Clé de vélo trouvée près de la cuisine : elle vous attend à l'accueil."),
]


def _community(
    session: Session, site: Site, people: list[_Person], now: datetime, rng: random.Random
) -> None:
    """Events to come, announcements, hosts for guests: what makes the board's strip and
    the kiosk's guest screen worth a look in the demo."""
    zone = ZoneInfo(site.timezone)
    today = now.astimezone(zone).date()
    for days, start, end, title, who in EVENTS:
        day = today + timedelta(days=days)
        starts = datetime.combine(day, time.fromisoformat(start), zone)
        ends = datetime.combine(day, time.fromisoformat(end), zone)
        if ends > now:
            add_event(session, site, title, starts, ends, who, True, "", None, FRONT_DESK, now)
    for days, text in NOTICES:
        publish(session, text, now + timedelta(days=days), None, FRONT_DESK, now)
    named = [p.member for p in people if p.member.visibility is not Visibility.HIDDEN]
    for member in rng.sample(named, min(4, len(named))):
        member.host_consent_at = now - timedelta(days=rng.randint(1, 60))


FRONT_DESK = "accueil@example.org"


def _front_desk(session: Session, now: datetime) -> str:
    """A staff account for the demo, an admin so every page can be tried; its password is
    random, never the seed's."""
    password = secrets.token_urlsafe(12)
    add_staff(session, FRONT_DESK, "Accueil", StaffRole.ADMIN, password, now)
    return password


def _refuse_if_not_empty(session: Session) -> None:
    members = session.scalar(select(func.count()).select_from(Member)) or 0
    sites = session.scalar(select(func.count()).select_from(Site)) or 0
    if members or sites:
        raise DemoError(
            f"the database already holds {members} member(s) and {sites} site(s); "
            "the demo only fills an empty database (point database_url at a new one)"
        )


# -- members ----------------------------------------------------------------------------


def _ascii(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return "".join(char for char in plain.replace(" ", "-") if char.isalnum() or char == "-")


def _members(session: Session, rng: random.Random, now: datetime) -> list[_Person]:
    chosen = rng.sample(PEOPLE, MEMBER_COUNT)
    plans = rng.sample(PLANS, len(PLANS))
    visibilities = rng.sample(VISIBILITIES, len(VISIBILITIES))
    working_on = rng.sample(WORKING_ON_FR, len(WORKING_ON_FR))
    uids: set[str] = set()
    people = []
    for index, (given, family, display, language) in enumerate(chosen):
        joined = now - timedelta(days=rng.randint(30, 540), minutes=rng.randint(0, 600))
        if language == "en":
            doing = rng.choice(WORKING_ON_EN)
        else:
            doing = working_on[index % len(working_on)]
        raw: dict[str, Any] = {
            "given_name": given,
            "family_name": family,
            "display_name": display,
            "email": f"{_ascii(given)}.{_ascii(family)}@example.org",
            "language": language,
            "plan": plans[index].value,
            "plan_starts_on": joined.date().isoformat(),
            "skills": rng.sample(SKILLS, rng.randint(1, 4)),
            "working_on": doing,
            "open_to_chat_about": rng.choice(OPEN_TO_CHAT),
            "visibility": visibilities[index].value,
        }
        member = add_member(session, MemberSchema().load(raw), joined.date())
        member.created_at = joined
        if member.visibility is not Visibility.HIDDEN:
            member.visibility_consent_at = joined
        if plans[index] is Plan.PACK:  # bought at the front desk when they joined
            pack = BillingSection()
            session.add(
                PackPurchase(
                    member_id=member.id,
                    bought_on=joined.date(),
                    credits=pack.pack_credits,
                    price_cents=pack.pack_price,
                    recorded_by=FRONT_DESK,
                )
            )
        uid = _new_uid(rng, uids)
        assign_badge(session, member, BadgeKind.NFC, uid, "badge NFC", joined)
        people.append(_Person(member, uid, plans[index], rng.uniform(0.6, 1.3)))
    session.flush()
    return people


def _new_uid(rng: random.Random, taken: set[str]) -> str:
    """A 7-byte NXP-style UID (the first byte, 04, is NXP's manufacturer code)."""
    while True:
        uid = f"04{rng.getrandbits(48):012X}"
        if uid not in taken:
            taken.add(uid)
            return uid


# -- history ----------------------------------------------------------------------------


def _local(hours: OpeningHours, day: date, hhmm: str) -> datetime:
    hour, minute = (int(part) for part in hhmm.split(":"))
    return datetime.combine(day, time(hour, minute), hours.zone)


def _between(rng: random.Random, start: datetime, end: datetime) -> datetime:
    span = max(0, int((end - start).total_seconds()))
    return start + timedelta(seconds=rng.randint(0, span))


def _window(rng: random.Random, hours: OpeningHours, day: date, start: str, end: str) -> datetime:
    return _between(rng, _local(hours, day, start), _local(hours, day, end))


def _day_of_visits(
    rng: random.Random,
    hours: OpeningHours,
    day: date,
    event_day: date,
    people: list[_Person],
    entrance: Kiosk,
    exit_: Kiosk,
) -> list[_Visit]:
    if not hours.periods_on(day):
        return []
    saturday = day.weekday() == 5
    visits = []
    for person in people:
        chance = ATTENDANCE[person.plan] * BUSY[day.weekday()] * person.regularity
        if rng.random() >= chance:
            if day == event_day and rng.random() < 0.25:  # comes for the evening only
                arrive = _window(rng, hours, day, "18:30", "19:30")
                leave = _window(rng, hours, day, "21:00", "22:50")
                visits.append(_visit(rng, person, arrive, leave, entrance, exit_))
            continue
        if saturday:
            arrive = _window(rng, hours, day, "10:00", "11:00")
            leave = _window(rng, hours, day, "12:00", "12:59")
        else:
            kind = rng.random()
            if kind < 0.65:  # a full day
                arrive = _window(rng, hours, day, "08:45", "10:30")
                leave = _window(rng, hours, day, "16:30", "18:59")
                if day == event_day and rng.random() < 0.35:  # stays for the event
                    leave = _window(rng, hours, day, "20:30", "22:45")
            elif kind < 0.82:  # a morning, until lunch
                arrive = _window(rng, hours, day, "08:45", "10:00")
                leave = _window(rng, hours, day, "12:00", "13:15")
            else:  # an afternoon, after lunch
                arrive = _window(rng, hours, day, "13:15", "14:30")
                leave = _window(rng, hours, day, "16:30", "18:45")
        visits.append(_visit(rng, person, arrive, leave, entrance, exit_))
    return visits


def _visit(
    rng: random.Random,
    person: _Person,
    arrive: datetime,
    leave: datetime,
    entrance: Kiosk,
    exit_: Kiosk,
) -> _Visit:
    forgot = rng.random() < FORGET_CHECKOUT
    way_out = exit_ if rng.random() < 0.6 else entrance
    return _Visit(person, arrive, None if forgot else leave, way_out)


def _ensure_forgotten(visits: list[_Visit]) -> None:
    """A few forgotten check-outs, left to the automatic closing, whatever the draw."""
    forgotten = sum(1 for visit in visits if visit.leave is None)
    days_used: set[date] = set()
    for visit in visits:
        if forgotten >= MIN_FORGOTTEN:
            return
        day = visit.arrive.date()
        if visit.leave is not None and day not in days_used:
            visit.leave = None
            days_used.add(day)
            forgotten += 1


def _current_opening(hours: OpeningHours, now: datetime) -> datetime | None:
    """When the period under way opened, or None if the site is closed now."""
    today = hours.local_date(now)
    periods = hours.periods_on(today - timedelta(days=1)) + hours.periods_on(today)
    for opens, closes in periods:
        if opens <= now < closes:
            return opens
    return None


def _taps(rng: random.Random, visits: list[_Visit], entrance: Kiosk) -> list[_PlannedTap]:
    planned: list[_PlannedTap] = []
    for visit in visits:
        moves = [(visit.arrive, entrance)]
        if visit.leave is not None:
            moves.append((visit.leave, visit.exit_kiosk))
        for at, kiosk in moves:
            tap_id = uuid.UUID(int=rng.getrandbits(128), version=4)
            read = IncomingTap(
                tap_id=tap_id, badge=visit.person.badge, badge_kind=BadgeKind.NFC, read_at=at
            )
            planned.append(_PlannedTap(at, len(planned), kiosk, read))
    planned.sort(key=lambda item: (item.at, item.order))
    return planned


def _post(session: Session, planned: _PlannedTap, rules: Rules) -> Outcome:
    result = record_tap(session, planned.tap, TapContext(planned.kiosk, None, planned.at, rules))
    return result.outcome


# -- what to print ----------------------------------------------------------------------


def _summary(
    session: Session,
    *,
    site: Site,
    now: datetime,
    rules: Rules,
    seed: int,
    event_day: date,
    people: list[_Person],
    present: list[_Person],
    kiosks: list[tuple[Kiosk, str]],
    board_token: str,
    staff_password: str,
    tap_count: int,
    outcomes: Counter[Outcome],
    demo_person: _Person,
) -> list[str]:
    visits = session.scalars(select(Visit).where(Visit.site_id == site.id)).all()
    zone = opening_hours(site).zone
    today = now.astimezone(zone).date()
    past = [visit for visit in visits if visit.checked_in_at.astimezone(zone).date() < today]
    days = {visit.checked_in_at.astimezone(zone).date() for visit in past}
    auto = sum(1 for visit in past if visit.ended_by is VisitEnd.AUTO)
    plans = Counter(person.plan.value for person in people)
    shown = Counter(person.member.visibility.value for person in people)
    local_now = now.astimezone(zone)

    lines = [
        f"Demo Cantine created (seed {seed}):",
        f"  site {site.slug}: {site.name} ({site.timezone}, capacity {site.capacity}), "
        f"open {HOURS}",
        f"  evening event on {DAY_NAMES[event_day.weekday()]} {event_day.isoformat()} "
        f"until 23:00: {EVENT_NOTE}",
        f"  {len(people)} members at example.org, one NFC badge each; plans: "
        + ", ".join(f"{count} {plan}" for plan, count in sorted(plans.items()))
        + "; visibility: "
        + ", ".join(f"{count} {level}" for level, count in sorted(shown.items())),
        "  kiosks: " + ", ".join(f"{kiosk.name} ({kiosk.mode.value})" for kiosk, _ in kiosks),
        f"  history: {len(past)} visits on {len(days)} days of the past week, "
        f"{auto} forgotten check-out(s) closed automatically at closing time",
        f"  {tap_count} badge taps posted through the kiosks "
        f"({outcomes[Outcome.CHECKED_IN]} check-ins, {outcomes[Outcome.CHECKED_OUT]} check-outs)",
    ]
    if present:
        names = ", ".join(person.member.greeting_name for person in present)
        count = head_count(session, site.id, now)
        lines.append(f"  present now: {count} ({names})")
    else:
        lines.append(
            f"  {site.name} is closed now ({DAY_NAMES[local_now.weekday()]} "
            f"{local_now:%H:%M} {site.timezone}): nobody is present"
        )
    lines.append("The wall board (this link holds the display key; keep it for the screens):")
    lines.append(f"  {BASE_URL}/board/{site.slug}?token={board_token}")
    lines.append("The staff pages (an admin account; this password is shown once):")
    lines.append(f"  {BASE_URL}/staff/  {FRONT_DESK} / {staff_password}")
    lines.append("Kiosk tokens (shown once, put them in each kiosk's config):")
    for kiosk, token in kiosks:
        lines.append(f"  {kiosk.name}: {token}")
    entrance_token = kiosks[0][1]
    body = (
        '{"taps": [{"id": "\'"$(python3 -c \'import uuid; print(uuid.uuid4())\')"\'", '
        f'"badge": "{demo_person.badge}", '
        '"read_at": "\'"$(date -u +%Y-%m-%dT%H:%M:%SZ)"\'"}]}'
    )
    seconds = int(rules.debounce.total_seconds())
    lines += [
        f"Try it: run 'presence serve', then tap {demo_person.member.greeting_name}'s badge "
        f"{demo_person.badge} at {kiosks[0][0].name} (again after {seconds} s to check out):",
        "  curl -sS "
        + " ".join(
            [
                API_URL,
                "-H",
                shlex.quote(f"Authorization: Bearer {entrance_token}"),
                "-H",
                shlex.quote("Content-Type: application/json"),
                "-d",
                f"'{body}'",
            ]
        ),
    ]
    return lines
