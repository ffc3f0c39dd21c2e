"""Small factories with believable defaults: `make_member(session, given_name="Zoé")`."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, date, datetime
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from server.domain.checkin import record_tap
from server.domain.kiosks import add_kiosk
from server.domain.links import make_member_token
from server.domain.presence import (
    BadgeKeys,
    IncomingTap,
    Rules,
    TapContext,
    TapResult,
    record_staff_entry,
)
from server.store.db import lookup_key
from server.store.models import (
    Badge,
    BadgeKind,
    Kiosk,
    KioskMode,
    Member,
    MemberPlan,
    Plan,
    Site,
    TapKind,
)

_serial = itertools.count(1)
WEEKDAYS_9_TO_19 = {day: [["09:00", "19:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}


def make_site(session: Session, **overrides: Any) -> Site:
    n = next(_serial)
    values: dict[str, Any] = {
        "slug": f"cantine-{n}",
        "name": f"La Cantine {n}",
        "timezone": "Europe/Paris",
        "capacity": 40,
        "opening_hours": WEEKDAYS_9_TO_19,
    }
    values.update(overrides)
    site = Site(**values)
    session.add(site)
    session.flush()
    return site


def make_member(session: Session, **overrides: Any) -> Member:
    n = next(_serial)
    values: dict[str, Any] = {
        "given_name": "Alice",
        "family_name": f"Martin{n}",
        "display_name": overrides.get("given_name", "Alice"),
        "email": f"member{n}@example.org",
    }
    values.update(overrides)
    member = Member(**values)
    member.plans.append(MemberPlan(plan=Plan.PAYG, starts_on=date(2026, 1, 1)))
    session.add(member)
    session.flush()
    return member


def make_badge(session: Session, member: Member, **overrides: Any) -> Badge:
    n = next(_serial)
    kind = BadgeKind(overrides.pop("kind", BadgeKind.NFC))
    value = overrides.pop("value", f"04{n:012X}")
    values: dict[str, Any] = {
        "member_id": member.id,
        "label": f"badge {n}",
        "issued_at": datetime(2026, 1, 1, tzinfo=UTC),
    }
    values.update(overrides)
    badge = Badge(**values)
    badge.set_value(lookup_key(session), kind, value)  # `badge.value` is known in memory
    session.add(badge)
    session.flush()
    return badge


def make_kiosk(
    session: Session, site: Site, *, mode: KioskMode = KioskMode.TOGGLE, **overrides: Any
) -> tuple[Kiosk, str]:
    n = next(_serial)
    created = overrides.pop("created_at", datetime(2026, 1, 1, tzinfo=UTC))
    kiosk, token = add_kiosk(session, overrides.pop("name", f"door-{n}"), site, mode, created)
    return kiosk, token


def badge_tap(
    session: Session,
    kiosk: Kiosk,
    badge: Badge,
    when: datetime,
    rules: Rules | None = None,
    badge_key: bytes | None = None,
    value: str | None = None,
) -> TapResult:
    """A badge read at a kiosk at `when`, received at once, applied by the presence rules
    (`badge_key`: the public key that checks a QR badge's token; `value`: what is read,
    for a badge not made here, whose value is not known in memory)."""
    incoming = IncomingTap(uuid.uuid4(), value or badge.value, badge.kind, when)
    context = TapContext(
        kiosk, None, when, rules or Rules(), None if badge_key is None else BadgeKeys(badge_key)
    )
    return record_tap(session, incoming, context)


def staff_entry(
    session: Session,
    member: Member,
    site: Site,
    kind: TapKind,
    when: datetime,
    *,
    actor: str = "staff@example.org",
    reason: str = "oubli de badge",
) -> TapResult:
    """A check-in or check-out entered by staff at `when`, with who and why."""
    return record_staff_entry(session, member, site, kind, when, actor, reason, when, Rules())


def tap_json(badge: str, read_at: datetime, **overrides: Any) -> dict[str, Any]:
    """One tap as a kiosk sends it."""
    body: dict[str, Any] = {"id": str(uuid.uuid4()), "badge": badge, "read_at": read_at.isoformat()}
    body.update(overrides)
    return body


def submit(client: Any, url: str, data: dict[str, str], follow: bool = False) -> Any:
    """Post a form as a browser does: open its page first and send its CSRF token back
    (and, with `follow`, go where the answer redirects)."""
    import re

    page = client.get(url).get_data(as_text=True)
    found = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page)
    assert found, f"no CSRF token in the form at {url}"
    return client.post(url, data={**data, "csrf_token": found[1]}, follow_redirects=follow)


# -- requests as kiosks and people make them -----------------------------------------

#: The password of the staff accounts the tests make.
PASSWORD = "correct horse battery staple"


def upload(
    client: FlaskClient, token: str, *taps: dict[str, Any], clock: dict[str, Any] | None = None
) -> TestResponse:
    """Upload taps through the kiosk API as kiosk `token`, with its clock if given."""
    body: dict[str, Any] = {"taps": list(taps)}
    if clock is not None:
        body["clock"] = clock
    return client.post("/api/v1/taps", json=body, headers={"Authorization": f"Bearer {token}"})


def guest_json(name: str, when: datetime, **guest: Any) -> dict[str, Any]:
    """A guest's arrival as the kiosk's form sends it."""
    return {"id": str(uuid.uuid4()), "guest": {"name": name, **guest}, "read_at": when.isoformat()}


def leaving_json(arrival: dict[str, Any], when: datetime) -> dict[str, Any]:
    """The departure of the guest who arrived with `arrival`."""
    return {"id": str(uuid.uuid4()), "leaving": arrival["id"], "read_at": when.isoformat()}


def link_for(app: Flask, member_id: int) -> str:
    """A member's own signed link (what `presence members link` prints)."""
    return "/me/" + make_member_token(app.config["SECRET_KEY"], member_id)


def log_in(client: FlaskClient, email: str, password: str = PASSWORD) -> TestResponse:
    """Log in to the staff pages as `email`."""
    return submit(client, "/staff/login", {"email": email, "password": password})


def csrf(client: FlaskClient, url: str = "/staff/members") -> str:
    """The CSRF token of the form on the page at `url`."""
    page = client.get(url).get_data(as_text=True)
    return page.split('name="csrf_token" value="')[1].split('"')[0]
