"""The kiosk API under /api/v1: thin views that validate, call a service and answer."""

from __future__ import annotations

from typing import Any

from flask import current_app, g, request
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from badges.tokens import is_ticket
from server.api.errors import ApiError
from server.api.metrics import metrics
from server.api.schemas import (
    DirectorySchema,
    ErrorSchema,
    HeartbeatResultSchema,
    HeartbeatSchema,
    TapUploadResultSchema,
    TapUploadSchema,
)
from server.domain import guests, presence
from server.domain import meetups as events
from server.domain.kiosks import Heartbeat, directory, find_kiosk, record_heartbeat
from server.runtime import runtime
from server.store.models import BadgeKind, Kiosk

blp = Blueprint(
    "kiosk-api",
    __name__,
    url_prefix="/api/v1",
    description="What kiosks at the door call: upload taps, heartbeat, offline directory.",
)

KIOSK_AUTH: list[dict[str, list[str]]] = [{"kioskToken": []}]


@blp.before_request
def authenticate_kiosk() -> None:
    """Every kiosk endpoint needs `Authorization: Bearer <kiosk token>`."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "missing_token", "Send the kiosk token as 'Authorization: Bearer'.")
    with runtime().session() as session:
        kiosk = find_kiosk(session, token.strip())
        if kiosk is None:
            raise ApiError(401, "invalid_token", "This kiosk token is unknown or was rotated.")
        session.expunge(kiosk)
    g.kiosk_id = kiosk.id


def _kiosk(session: Session) -> Kiosk:
    kiosk = session.get(Kiosk, g.kiosk_id)
    if kiosk is None:  # deleted between authentication and now
        raise ApiError(401, "invalid_token", "This kiosk no longer exists.")
    return kiosk


@blp.route("/taps")
class Taps(MethodView):
    @blp.arguments(TapUploadSchema)
    @blp.response(200, TapUploadResultSchema)
    @blp.alt_response(401, schema=ErrorSchema, description="Missing or unknown token")
    @blp.alt_response(413, schema=ErrorSchema, description="Body or batch too large")
    @blp.alt_response(422, schema=ErrorSchema, description="Malformed taps")
    @blp.doc(security=KIOSK_AUTH)
    def post(self, upload: dict[str, Any]) -> dict[str, Any]:
        """Upload taps, oldest first; each gets its own answer.

        A tap id seen before gets its first answer again and changes nothing, so a kiosk
        may resend a batch whose answer it did not receive.
        """
        app = runtime()
        limit = app.settings.api.max_batch
        if len(upload["taps"]) > limit:
            raise ApiError(413, "batch_too_large", f"Send at most {limit} taps per request.")
        clock = upload["clock"]
        kiosk_clock = clock and presence.KioskClock(clock["monotonic"], clock["boot_id"])
        taps = [
            presence.IncomingTap(
                tap_id=tap["id"],
                badge=tap["badge"] or "",
                badge_kind=BadgeKind(tap["badge_kind"]),
                read_at=tap["read_at"],
                monotonic=tap["monotonic"],
                boot_id=tap["boot_id"],
                guest=tap["guest"]
                and presence.GuestArrival(
                    tap["guest"]["name"], tap["guest"]["email"], tap["guest"]["host"]
                ),
                leaving=tap["leaving"],
                walk_in=tap["walk_in"]
                and presence.WalkIn(
                    tap["walk_in"]["event"], tap["walk_in"]["name"], tap["walk_in"]["email"]
                ),
            )
            for tap in upload["taps"]
        ]
        measured = metrics()
        with measured.upload_seconds.time():
            try:
                answer = _store_taps(taps, kiosk_clock)
            except IntegrityError:
                # Two copies of the same new tap raced: the loser's insert failed on the
                # unique tap id, and trying again finds the winner's answer.
                answer = _store_taps(taps, kiosk_clock)
        return answer


def _store_taps(
    taps: list[presence.IncomingTap], kiosk_clock: presence.KioskClock | None
) -> dict[str, Any]:
    app = runtime()
    now = app.now()
    with app.transaction() as session:
        kiosk = _kiosk(session)
        kiosk.last_seen_at = now
        results = [_store_tap(session, kiosk, tap, kiosk_clock) for tap in taps]
        for result in results:
            if not result.replayed:  # a resent tap was counted the first time
                metrics().taps.labels(result.outcome.value).inc()
        # Every counted tap already says the head-count after it; ask only if none did.
        counted = [result.head_count for result in results if result.head_count is not None]
        count = counted[-1] if counted else presence.head_count(session, kiosk.site_id, now)
    return {
        "results": [result.as_dict() for result in results],
        "head_count": count,
        "server_time": now,
    }


def _store_tap(
    session: Session,
    kiosk: Kiosk,
    tap: presence.IncomingTap,
    kiosk_clock: presence.KioskClock | None,
) -> presence.TapResult:
    app = runtime()
    now, rules = app.now(), app.rules
    if tap.guest is not None:
        key = app.badge_private_key
        return guests.record_arrival(session, kiosk, tap, kiosk_clock, now, rules, key)
    if tap.leaving is not None:
        return guests.record_departure(session, kiosk, tap, kiosk_clock, now, rules)
    if tap.walk_in is not None:
        key = app.badge_private_key
        return events.record_walk_in(session, kiosk, tap, kiosk_clock, now, rules, key)
    key = app.badge_public_key
    if tap.badge_kind is BadgeKind.QR and is_ticket(tap.badge):
        return events.record_ticket_scan(session, kiosk, tap, kiosk_clock, now, rules, key)
    return presence.record_badge_tap(session, kiosk, tap, kiosk_clock, now, rules, key)


@blp.route("/heartbeat")
class HeartbeatView(MethodView):
    @blp.arguments(HeartbeatSchema)
    @blp.response(200, HeartbeatResultSchema)
    @blp.alt_response(401, schema=ErrorSchema, description="Missing or unknown token")
    @blp.doc(security=KIOSK_AUTH)
    def post(self, beat: dict[str, Any]) -> dict[str, Any]:
        """Tell the server the kiosk is alive, its version and how many taps it holds."""
        app = runtime()
        now = app.now()
        with app.transaction() as session:
            kiosk = _kiosk(session)
            wall = beat["clock"]["wall"] if beat["clock"] else None
            record_heartbeat(kiosk, Heartbeat(beat["version"], beat["pending_taps"], wall), now)
            site = kiosk.site
            return {
                "server_time": now,
                "kiosk": kiosk.name,
                "mode": kiosk.mode.value,
                "site": {"slug": site.slug, "name": site.name, "timezone": site.timezone},
                "head_count": presence.head_count(session, site.id, now),
                "guests": guests.present_guests(session, site.id, now),
                "events": [
                    {"id": event.id, "title": event.title}
                    for event in events.today_at(session, site, now)
                ],
            }


@blp.route("/directory")
class DirectoryView(MethodView):
    @blp.response(200, DirectorySchema)
    @blp.alt_response(401, schema=ErrorSchema, description="Missing or unknown token")
    @blp.doc(security=KIOSK_AUTH)
    def get(self) -> dict[str, Any]:
        """The member directory for greeting offline: keyed badge hashes -> first names."""
        app = runtime()
        with app.session() as session:
            secret = str(current_app.config["SECRET_KEY"])
            found = directory(session, secret, _kiosk(session), app.now())
            hosts = [{"id": id_, "name": name} for id_, name in guests.hosts(session)]
            return found | {"badge_key": app.badge_public_key.hex(), "hosts": hosts}
