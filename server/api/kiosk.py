"""The kiosk API under /api/v1: thin views that validate, call a service and answer."""

from __future__ import annotations

from typing import Any

from flask import current_app, g, request
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy.orm import Session

from server.api.errors import ApiError
from server.api.metrics import metrics
from server.api.schemas import (
    DirectorySchema,
    ErrorSchema,
    HeartbeatResultSchema,
    HeartbeatSchema,
    TapUploadResultSchema,
    TapUploadSchema,
    incoming_tap,
    kiosk_clock,
)
from server.domain import guests, presence
from server.domain import meetups as events
from server.domain.checkin import KioskGone, record_upload
from server.domain.kiosks import (
    UNCHANGED,
    Heartbeat,
    directory,
    find_kiosk,
    hash_token,
    record_heartbeat,
)
from server.domain.presence import BadgeKeys
from server.runtime import runtime
from server.store.models import Kiosk, ReaderState

blp = Blueprint(
    "kiosk-api",
    __name__,
    url_prefix="/api/v1",
    description="What kiosks at the door call: upload taps, heartbeat, offline directory.",
)

KIOSK_AUTH: list[dict[str, list[str]]] = [{"kioskToken": []}]
BAD_BODY = "No body, malformed JSON, nesting too deep or an absurd number"


_KNOWN_MAX = 1024


def _known() -> dict[str, int]:
    """Token hash -> kiosk id, for this app in this process: a kiosk request costs no
    query of its own to authenticate. Never trusted alone: each endpoint loads the
    kiosk's row in its own transaction and checks the hash again (`_opens`), so a
    rotated token or a deleted kiosk is refused at once."""
    known: dict[str, int] = current_app.extensions.setdefault("presence.kiosk_tokens", {})
    return known


@blp.before_request
def authenticate_kiosk() -> None:
    """Every kiosk endpoint needs `Authorization: Bearer <kiosk token>`."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "missing_token", "Send the kiosk token as 'Authorization: Bearer'.")
    g.token_hash = hash_token(token.strip())
    known = _known()
    g.kiosk_id = known.get(g.token_hash)
    if g.kiosk_id is None:
        with runtime().session() as session:
            kiosk = find_kiosk(session, token.strip())
            if kiosk is None:
                raise _invalid_token()
            if len(known) >= _KNOWN_MAX:
                known.clear()
            g.kiosk_id = known[g.token_hash] = kiosk.id


@blp.before_request
def require_json_body() -> None:
    """A kiosk's POST carries a JSON body: none, or another type, is not read as `{}`."""
    if request.method != "POST":
        return
    if not request.is_json:
        raise ApiError(
            415, "unsupported_media_type", "Send the body as JSON (Content-Type: application/json)."
        )
    if not request.get_data(cache=True).strip():
        raise ApiError(400, "missing_body", "Send a JSON object as the body.")


def _invalid_token() -> ApiError:
    return ApiError(401, "invalid_token", "This kiosk token is unknown or was rotated.")


def _opens(kiosk: Kiosk | None) -> bool:
    """Whether the request's token still opens this kiosk (not rotated, not deleted)."""
    if kiosk is not None and kiosk.token_hash == g.token_hash:
        return True
    _known().pop(g.token_hash, None)
    return False


def _kiosk(session: Session) -> Kiosk:
    kiosk = session.get(Kiosk, g.kiosk_id)
    if kiosk is None or not _opens(kiosk):  # rotated or deleted since
        raise _invalid_token()
    return kiosk


@blp.route("/taps")
class Taps(MethodView):
    @blp.arguments(TapUploadSchema)
    @blp.response(200, TapUploadResultSchema)
    @blp.alt_response(400, schema=ErrorSchema, description=BAD_BODY)
    @blp.alt_response(401, schema=ErrorSchema, description="Missing or unknown token")
    @blp.alt_response(413, schema=ErrorSchema, description="Body or batch too large")
    @blp.alt_response(415, schema=ErrorSchema, description="Body not sent as JSON")
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
        taps = [incoming_tap(tap) for tap in upload["taps"]]
        clock = kiosk_clock(upload["clock"])
        keys = BadgeKeys(app.badge_public_key, app.badge_private_key)
        measured = metrics()
        with measured.upload_seconds.time():
            try:
                answer = record_upload(
                    app.transaction, g.kiosk_id, taps, clock, app.now(), app.rules, keys, _opens
                )
            except KioskGone:
                raise _invalid_token() from None
        for result in answer.results:
            if not result.replayed:  # a resent tap was counted the first time
                measured.taps.labels(result.outcome.value).inc()
        return {
            "results": [result.as_dict() for result in answer.results],
            "head_count": answer.head_count,
            "server_time": answer.server_time,
        }


@blp.route("/heartbeat")
class HeartbeatView(MethodView):
    @blp.arguments(HeartbeatSchema)
    @blp.response(200, HeartbeatResultSchema)
    @blp.alt_response(400, schema=ErrorSchema, description=BAD_BODY)
    @blp.alt_response(401, schema=ErrorSchema, description="Missing or unknown token")
    @blp.alt_response(415, schema=ErrorSchema, description="Body not sent as JSON")
    @blp.doc(security=KIOSK_AUTH)
    def post(self, beat: dict[str, Any]) -> dict[str, Any]:
        """Tell the server the kiosk is alive, its version, how many taps it holds, its
        clocks and the state of its badge reader."""
        app = runtime()
        now = app.now()
        reader = beat.get("reader", UNCHANGED)  # absent: an older kiosk, nothing said
        heartbeat = Heartbeat(
            beat["version"],
            beat["pending_taps"],
            kiosk_clock(beat["clock"]),
            ReaderState(reader) if isinstance(reader, str) else reader,
        )
        with app.transaction() as session:
            kiosk = _kiosk(session)
            record_heartbeat(kiosk, heartbeat, now)
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
            found = directory(session, secret, _kiosk(session), app.now(), app.badge_lookup_key)
            hosts = [{"id": id_, "name": name} for id_, name in guests.hosts(session)]
            return found | {"badge_key": app.badge_public_key.hex(), "hosts": hosts}
