"""Sending what `server.domain.webhooks` queued: webhook calls and e-mails, each retried with
backoff until delivered, then kept as a log.

A sender claims a few due deliveries for a while (`claimed_until`) in a short
transaction, sends them with no transaction open (a slow receiver never holds the
database), then records each outcome. Another process's sender skips what is claimed,
so several server processes each send a delivery once; a sender that dies mid-way only
delays its claims until they lapse (a receiver can then get a call twice: each carries
its `X-Presence-Delivery` id to tell).

Each webhook call is signed like Stripe's: `X-Presence-Signature: t=<unix time>,
v1=<hex HMAC-SHA256 of "<t>.<body>" with the webhook's secret>`; a receiver recomputes
it and refuses old timestamps. It goes through `server.domain.outbound`, which judges the
address again (a name may resolve elsewhere than when it was saved) and keeps only the
status and a short error code of the answer.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
import ssl
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage

from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from server.domain import outbound
from server.runtime import Runtime
from server.settings import MailSection
from server.store.models import Delivery

log = logging.getLogger(__name__)

CLAIM = timedelta(minutes=2)
BATCH = 20
FIRST_RETRY = timedelta(seconds=30)
LONGEST_WAIT = timedelta(hours=1)
POLL_SECONDS = 5.0


def signature(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def backoff(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failure: 30 s, 1 min, 2 min... at most an hour."""
    wait: timedelta = FIRST_RETRY * 2 ** (attempts - 1)
    return min(wait, LONGEST_WAIT)


@dataclass(frozen=True)
class Sent:
    ok: bool
    status: int | None = None
    error: str = ""


def post_webhook(
    delivery: Delivery,
    now: datetime,
    timeout: float,
    allowed: Sequence[outbound.Network] = (),
    resolve: outbound.Resolver = outbound.system_resolver,
) -> Sent:
    body = json.dumps(delivery.payload, ensure_ascii=False, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "presence-webhooks",
        "X-Presence-Event": delivery.event,
        "X-Presence-Delivery": str(delivery.delivery_id),
    }
    if delivery.secret:
        headers["X-Presence-Signature"] = signature(delivery.secret, int(now.timestamp()), body)
    reply = outbound.post(
        delivery.target, body, headers, allowed=allowed, timeout=timeout, resolve=resolve
    )
    return Sent(reply.ok, reply.status, reply.error)


def send_mail(settings: MailSection, delivery: Delivery, timeout: float) -> Sent:
    if not settings.host:
        return Sent(False, None, "no [mail] host configured")
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = delivery.target
    message["Subject"] = delivery.payload.get("subject", "")
    message.set_content(delivery.payload.get("body", ""))
    try:
        if settings.security == "tls":
            context = ssl.create_default_context()
            server: smtplib.SMTP = smtplib.SMTP_SSL(
                settings.host, settings.port, timeout=timeout, context=context
            )
        else:
            server = smtplib.SMTP(settings.host, settings.port, timeout=timeout)
        with server:
            if settings.security == "starttls":
                server.starttls(context=ssl.create_default_context())
            if settings.username:
                server.login(settings.username, settings.password)
            server.send_message(message)
    except (OSError, smtplib.SMTPException) as error:
        return Sent(False, None, f"{type(error).__name__}: {error}"[:500])
    return Sent(True)


def deliver_due(app: Runtime, send: Callable[[Delivery], Sent] | None = None) -> int:
    """Send what is due now; the number delivered."""
    now = app.now()
    settings = app.settings
    timeout = settings.webhooks.timeout_seconds
    allowed = outbound.networks(settings.webhooks.allowed_networks)

    def default_send(delivery: Delivery) -> Sent:
        if delivery.channel == "email":
            return send_mail(settings.mail, delivery, timeout)
        return post_webhook(delivery, app.now(), timeout, allowed, app.resolve)

    with app.transaction() as session:
        due = session.scalars(
            select(Delivery)
            .where(
                Delivery.delivered_at.is_(None),
                Delivery.gave_up_at.is_(None),
                Delivery.next_attempt_at <= now,
                Delivery.claimed_until.is_(None) | (Delivery.claimed_until < now),
            )
            .order_by(Delivery.next_attempt_at, Delivery.id)
            .limit(BATCH)
            .with_for_update(skip_locked=True)
        ).all()
        for delivery in due:
            delivery.claimed_until = now + CLAIM
        session.flush()
        for delivery in due:
            session.expunge(delivery)
    delivered = 0
    for delivery in due:
        outcome = (send or default_send)(delivery)
        with app.transaction() as session:
            stored = session.get(Delivery, delivery.id)
            if stored is None:
                continue
            stored.attempts += 1
            stored.claimed_until = None
            stored.last_status, stored.last_error = outcome.status, outcome.error
            if outcome.ok:
                stored.delivered_at = app.now()
                delivered += 1
            elif stored.attempts >= settings.webhooks.max_attempts:
                stored.gave_up_at = app.now()
                why = outcome.error or outcome.status
                log.warning(
                    "gave up %s to %s after %d attempts: %s",
                    stored.event,
                    stored.target,
                    stored.attempts,
                    why,
                )
            else:
                stored.next_attempt_at = app.now() + backoff(stored.attempts)
    return delivered


class Sender(threading.Thread):
    """Sends deliveries in the background: at once when woken, else every few seconds
    (for retries that fall due)."""

    def __init__(self, app: Runtime) -> None:
        super().__init__(name="outbox", daemon=True)
        self.app = app
        self._wake = app.outbox_wake  # set after each commit that queued something
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(POLL_SECONDS)
            self._wake.clear()
            try:
                while deliver_due(self.app) == BATCH:
                    pass
            except OperationalError as error:
                # The database is restarting or unreachable: no bug to trace, and the
                # deliveries wait in it. Try again at the next turn.
                log.warning("sending deliveries waits for the database: %s", error)
            except Exception:
                log.exception("sending deliveries failed")
