"""Webhooks and arrival alerts: what happens at the door, told to other tools and people.

Staff register URLs (`Webhook`) for some of the events below, in one of three formats:
`json` (the event as data), `slack` (Slack and Mattermost incoming webhooks) or `matrix`
(a Matrix hookshot generic webhook); the last two carry a sentence ("Alice vient
d'arriver à La Cantine"). A member's visibility decides what any of them says: a
`hidden` member is never named (only the head-count goes out), `first_name` gives the
first name, `profile` adds what they work on.

A member may also ask to be told when another arrives (`ArrivalWatch`): only when the
person watched agreed to it (`Member.arrival_alerts_at`), at most once a day, by e-mail
and to the watcher's own webhook if they gave one.

Nothing is sent from a request: the deliveries are rows (`Delivery`) written in the
transaction that records the tap, so a tap and the news of it are stored together or not
at all; `server.jobs.outbox` sends them and retries. Events come from the taps of a
transaction (their outcome is decided once, with the tap), not from visits, which are
rebuilt when a late tap arrives and would otherwise be announced twice.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from datetime import datetime
from itertools import chain
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, sessionmaker

from server.domain.presence import head_count, opening_hours
from server.settings import Settings
from server.store.models import (
    ArrivalWatch,
    Delivery,
    Kiosk,
    Member,
    Outcome,
    Site,
    Tap,
    Ticket,
    Visibility,
    Webhook,
)

CHECK_IN, CHECK_OUT, UNKNOWN_BADGE, EVENT_CHECK_IN = (
    "check_in",
    "check_out",
    "unknown_badge",
    "event_check_in",
)
EVENTS = (CHECK_IN, CHECK_OUT, UNKNOWN_BADGE, EVENT_CHECK_IN)
ARRIVAL_ALERT = "arrival_alert"
FORMATS = ("json", "slack", "matrix")
_OUTCOMES = {
    Outcome.CHECKED_IN: CHECK_IN,
    Outcome.CHECKED_OUT: CHECK_OUT,
    Outcome.UNKNOWN_BADGE: UNKNOWN_BADGE,
}
_NEW_TAPS = "presence.webhooks.taps"

SENTENCES: dict[str, dict[str, Any]] = {
    "fr": {
        CHECK_IN: "{name} vient d'arriver à {site}",
        CHECK_OUT: "{name} vient de partir de {site}",
        "someone": "Une personne",
        "someone_in": "Une personne vient d'arriver à {site}",
        "someone_out": "Une personne vient de partir de {site}",
        UNKNOWN_BADGE: "Un badge inconnu a été présenté à {kiosk} ({site})",
        EVENT_CHECK_IN: "{name} est là pour « {event} » ({site})",
        "count": {"one": "{n} personne sur place", "other": "{n} personnes sur place"},
        "working_on": "travaille sur : {working_on}",
        ARRIVAL_ALERT: "{name} vient d'arriver à {site}.",
        "alert_subject": "{name} est à {site}",
        "alert_footer": "Vous recevez ce message parce que vous l'avez demandé sur votre page "
        "Présence ; {name} a accepté que l'on soit prévenu de son arrivée.",
    },
    "en": {
        CHECK_IN: "{name} just arrived at {site}",
        CHECK_OUT: "{name} just left {site}",
        "someone": "Someone",
        "someone_in": "Someone just arrived at {site}",
        "someone_out": "Someone just left {site}",
        UNKNOWN_BADGE: "An unknown badge was presented at {kiosk} ({site})",
        EVENT_CHECK_IN: "{name} is here for “{event}” ({site})",
        "count": {"one": "{n} person here", "other": "{n} people here"},
        "working_on": "working on: {working_on}",
        ARRIVAL_ALERT: "{name} just arrived at {site}.",
        "alert_subject": "{name} is at {site}",
        "alert_footer": "You get this message because you asked for it on your Présence "
        "page; {name} agreed that people be told when they arrive.",
    },
}


def new_secret() -> str:
    return secrets.token_hex(32)


def member_view(member: Member | None) -> dict[str, Any] | None:
    """What an event may say of a member: nothing of a hidden one."""
    if member is None or member.visibility is Visibility.HIDDEN or member.erased_at:
        return None
    seen: dict[str, Any] = {"name": member.greeting_name}
    if member.visibility is Visibility.PROFILE:
        seen |= {"working_on": member.working_on, "skills": list(member.skills)}
    return seen


def sentence(event: dict[str, Any], language: str) -> str:
    """The event told in one sentence, as chat tools show it."""
    words = SENTENCES[language]
    site = event["site"]["name"]
    member = event.get("member")
    name = member["name"] if member else None
    kind = event["event"]
    text: str
    if kind == UNKNOWN_BADGE:
        text = words[UNKNOWN_BADGE].format(kiosk=event.get("kiosk") or "?", site=site)
    elif kind == EVENT_CHECK_IN:
        who = name or words["someone"]
        text = words[EVENT_CHECK_IN].format(name=who, event=event["title"], site=site)
    elif name is None:
        text = words["someone_in" if kind == CHECK_IN else "someone_out"].format(site=site)
    else:
        text = words[kind].format(name=name, site=site)
        if member and member.get("working_on") and kind == CHECK_IN:
            text += " — " + words["working_on"].format(working_on=member["working_on"])
    count = event.get("head_count")
    if count is not None and kind in (CHECK_IN, CHECK_OUT):
        forms = words["count"]
        text += " (" + (forms["one"] if count <= 1 else forms["other"]).format(n=count) + ")"
    return text


def render(event: dict[str, Any], fmt: str, language: str) -> dict[str, Any]:
    """The body a webhook of that format receives."""
    if fmt == "slack":  # Slack and Mattermost incoming webhooks
        return {"text": sentence(event, language)}
    if fmt == "matrix":  # matrix-hookshot generic webhooks
        return {"text": sentence(event, language), "username": "Présence"}
    return event


def tap_event(session: Session, tap: Tap, now: datetime) -> dict[str, Any] | None:
    """The event a tap makes, if any."""
    if tap.ticket_id is not None:
        return _ticket_event(session, tap)
    kind = _OUTCOMES.get(tap.outcome)
    if kind is None or tap.site_id is None:
        return None
    site = session.get(Site, tap.site_id)
    assert site is not None
    kiosk = session.get(Kiosk, tap.kiosk_id) if tap.kiosk_id is not None else None
    member = session.get(Member, tap.member_id) if tap.member_id is not None else None
    found: dict[str, Any] = {
        "event": kind,
        "at": tap.occurred_at.isoformat(),
        "site": {"slug": site.slug, "name": site.name},
        "kiosk": kiosk.name if kiosk else None,
    }
    if kind == UNKNOWN_BADGE:
        return found | {"badge_kind": tap.badge_kind.value if tap.badge_kind else None}
    return found | {
        "member": member_view(member),
        "guest": bool(member and member.is_guest),
        "head_count": head_count(session, site.id, now),
    }


def _ticket_event(session: Session, tap: Tap) -> dict[str, Any] | None:
    """A ticket used at the door: the event and how many came (never who: the people
    who registered agreed to nothing more)."""
    ticket = session.get(Ticket, tap.ticket_id)
    if tap.outcome is not Outcome.CHECKED_IN or ticket is None:
        return None
    came = session.scalar(
        select(func.count())
        .select_from(Ticket)
        .where(Ticket.event_id == ticket.event_id, Ticket.checked_in_at.is_not(None))
    )
    site = ticket.event.site
    return {
        "event": EVENT_CHECK_IN,
        "at": tap.occurred_at.isoformat(),
        "site": {"slug": site.slug, "name": site.name},
        "title": ticket.event.title,
        "event_id": ticket.event_id,
        "attendance": int(came or 0),
    }


def queue_event(
    session: Session, event: dict[str, Any], site_id: int | None, now: datetime, language: str
) -> int:
    """A delivery for each active webhook that wants this event (at this site)."""
    hooks = session.scalars(
        select(Webhook).where(Webhook.disabled_at.is_(None)).order_by(Webhook.id)
    ).all()
    queued = 0
    for hook in hooks:
        if event["event"] not in hook.events or hook.site_id not in (None, site_id):
            continue
        session.add(
            Delivery(
                channel="webhook",
                webhook_id=hook.id,
                target=hook.url,
                event=event["event"],
                payload=render(event, hook.format, language),
                secret=hook.secret,
                created_at=now,
                next_attempt_at=now,
            )
        )
        queued += 1
    return queued


def queue_arrival_alerts(
    session: Session, tap: Tap, now: datetime, language: str, secret: str, mail: bool
) -> int:
    """Tell the members who asked that this one arrived, if they agreed to it."""
    if tap.member_id is None or tap.site_id is None:
        return 0
    watched = session.get(Member, tap.member_id)
    site = session.get(Site, tap.site_id)
    assert site is not None
    if watched is None or watched.arrival_alerts_at is None or watched.is_guest:
        return 0
    today = opening_hours(site).local_date(tap.occurred_at)
    words = SENTENCES[language]
    name, queued = watched.greeting_name, 0
    watches = session.scalars(
        select(ArrivalWatch).where(ArrivalWatch.watched_id == watched.id).with_for_update()
    ).all()
    for watch in watches:
        watcher = session.get(Member, watch.watcher_id)
        if (
            watcher is None
            or watcher.archived_at
            or watcher.erased_at
            or watch.last_sent_on == today
        ):
            continue
        text = words[ARRIVAL_ALERT].format(name=name, site=site.name)
        payload: dict[str, Any] = {
            "event": ARRIVAL_ALERT,
            "text": text,
            "at": tap.occurred_at.isoformat(),
            "member": {"name": name},
            "site": {"slug": site.slug, "name": site.name},
        }
        if mail and watcher.email:
            body = f"{text}\n\n{words['alert_footer'].format(name=name)}\n"
            subject = words["alert_subject"].format(name=name, site=site.name)
            session.add(
                Delivery(
                    channel="email",
                    target=watcher.email,
                    event=ARRIVAL_ALERT,
                    payload={"subject": subject, "body": body},
                    created_at=now,
                    next_attempt_at=now,
                )
            )
            queued += 1
        if watcher.alert_webhook_url:
            session.add(
                Delivery(
                    channel="webhook",
                    target=watcher.alert_webhook_url,
                    event=ARRIVAL_ALERT,
                    payload=payload,
                    secret=member_secret(secret, watcher.id),
                    created_at=now,
                    next_attempt_at=now,
                )
            )
            queued += 1
        watch.last_sent_on = today
    return queued


def member_secret(secret: str, member_id: int) -> str:
    """The key that signs a member's own alert webhook (shown on their page)."""
    return hmac.new(secret.encode(), f"alerts:{member_id}".encode(), "sha256").hexdigest()


def may_watch(session: Session, watcher: Member) -> list[Member]:
    """The members `watcher` may ask to be told about: those who agreed to it."""
    return list(
        session.scalars(
            select(Member)
            .where(
                Member.arrival_alerts_at.is_not(None),
                Member.id != watcher.id,
                Member.is_guest.is_(False),
                Member.archived_at.is_(None),
                Member.erased_at.is_(None),
            )
            .order_by(Member.given_name, Member.family_name)
        )
    )


_ANY_WEBHOOK = select(Webhook.id).where(Webhook.disabled_at.is_(None)).limit(1)


class NotificationTracker:
    """Watches each write transaction for new taps; before it commits, adds the webhook
    deliveries and arrival alerts they call for; after, wakes the sender."""

    def __init__(
        self,
        clock: Callable[[], datetime],
        settings: Settings,
        secret: str,
        wake: Callable[[], None] | None = None,
    ) -> None:
        self.clock, self.settings, self.secret, self.wake = clock, settings, secret, wake

    def install(self, sessions: sessionmaker[Session]) -> None:
        event.listen(sessions, "before_flush", self._watch)
        event.listen(sessions, "before_commit", self._queue)
        event.listen(sessions, "after_commit", self._after)
        event.listen(sessions, "after_rollback", self._forget)

    def _watch(self, session: Session, _context: object, _instances: object) -> None:
        new = [obj for obj in chain(session.new) if isinstance(obj, Tap)]
        if new:
            session.info.setdefault(_NEW_TAPS, []).extend(new)

    def _queue(self, session: Session) -> None:
        session.flush()
        taps: list[Tap] = session.info.pop(_NEW_TAPS, [])
        if not taps:
            return
        now = self.clock()
        language, mail = self.settings.board.language, bool(self.settings.mail.host)
        # Most spaces have no webhook: then a tap's event (and its head-count) is not
        # worked out at all. Arrival alerts are the members' own, checked per check-in.
        hooked = session.scalar(_ANY_WEBHOOK)
        queued = 0
        for tap in taps:
            if hooked is not None and (found := tap_event(session, tap, now)) is not None:
                queued += queue_event(session, found, tap.site_id, now, language)
            if tap.ticket_id is None and _OUTCOMES.get(tap.outcome) == CHECK_IN:
                queued += queue_arrival_alerts(session, tap, now, language, self.secret, mail)
        if queued:
            session.info["presence.webhooks.queued"] = True
            session.flush()

    def _after(self, session: Session) -> None:
        if session.info.pop("presence.webhooks.queued", False) and self.wake is not None:
            self.wake()

    def _forget(self, session: Session) -> None:
        session.info.pop(_NEW_TAPS, None)
        session.info.pop("presence.webhooks.queued", None)
