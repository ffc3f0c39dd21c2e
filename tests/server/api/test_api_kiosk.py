"""Heartbeat and the offline directory: what a kiosk needs besides uploading taps."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

from sqlalchemy.orm import Session

from server.domain.kiosks import health
from server.store.models import Kiosk
from tests.conftest import FrozenClock, at
from tests.factories import make_badge, make_kiosk, make_member, make_site


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_heartbeat_updates_last_seen_version_pending_and_skew(
    client, session: Session, clock: FrozenClock
) -> None:
    site = make_site(session, name="La Cantine")
    kiosk, token = make_kiosk(session, site)
    session.commit()
    ahead = clock().replace(microsecond=0)
    body = {
        "version": "0.1.0",
        "pending_taps": 3,
        "clock": {"monotonic": 12.5, "boot_id": "b1", "wall": (ahead).isoformat()},
    }
    clock.advance(seconds=-90)  # the kiosk's wall clock is 90 s ahead of ours

    response = client.post("/api/v1/heartbeat", json=body, headers=auth(token))

    assert response.status_code == 200
    assert response.json["site"]["name"] == "La Cantine"
    assert response.json["mode"] == "toggle" and response.json["head_count"] == 0
    session.expire_all()
    stored = session.get(Kiosk, kiosk.id)
    assert stored.last_seen_at == clock()
    assert (stored.last_version, stored.pending_taps) == ("0.1.0", 3)
    assert stored.clock_skew_seconds == 90.0


def test_heartbeat_remembers_the_kiosks_boot_and_when_it_began(
    client, session: Session, clock: FrozenClock
) -> None:
    """Its clocks place taps from an earlier boot later on (see test_api_clocks)."""
    kiosk, token = make_kiosk(session, make_site(session))
    session.commit()

    def beat(boot: str, monotonic: float) -> None:
        body = {"clock": {"monotonic": monotonic, "boot_id": boot}}
        assert client.post("/api/v1/heartbeat", json=body, headers=auth(token)).status_code == 200

    beat("b1", 600.0)  # began at 9:50
    clock.advance(minutes=1)
    beat("b1", 659.5)  # a slower message says 9:50:00.5: the quicker one is kept
    clock.advance(hours=2)
    beat("b2", 30.0)

    session.expire_all()
    known = session.get(Kiosk, kiosk.id)
    assert (known.boot_id, known.boot_started_at) == ("b2", clock() - timedelta(seconds=30))
    assert (known.previous_boot_id, known.previous_boot_started_at) == ("b1", at(9, 50))
    assert known.heard_before_boot_at == at(10, 1)
    assert known.clock_skew_seconds is None  # no wall clock said


def test_heartbeat_says_how_the_badge_reader_is(client, session: Session) -> None:
    """ok, gone, stuck, or null while the kiosk does not know; an older kiosk that says
    nothing leaves it as it was; anything else is refused, saying what is allowed."""
    kiosk, token = make_kiosk(session, make_site(session))
    session.commit()

    def reader_after(body: dict[str, object]) -> str | None:
        assert client.post("/api/v1/heartbeat", json=body, headers=auth(token)).status_code == 200
        session.expire_all()
        state = session.get(Kiosk, kiosk.id).reader
        session.rollback()  # let go of the database before the kiosk's next request
        return None if state is None else state.value

    assert reader_after({"reader": "gone"}) == "gone"
    assert reader_after({"version": "0.1.0"}) == "gone"  # an older kiosk: unchanged
    assert reader_after({"reader": "stuck"}) == "stuck"
    assert reader_after({"reader": "ok"}) == "ok"
    assert reader_after({"reader": None}) is None

    refused = client.post("/api/v1/heartbeat", json={"reader": "asleep"}, headers=auth(token))
    assert refused.status_code == 422 and refused.json["reason"] == "invalid_request"
    assert refused.json["fields"]["reader"] == [
        "One of ok, gone, stuck, or null while the kiosk does not know yet."
    ]


def test_heartbeat_refuses_negative_pending_and_a_wrong_token(client, session: Session) -> None:
    _kiosk, token = make_kiosk(session, make_site(session))
    session.commit()
    negative = client.post("/api/v1/heartbeat", json={"pending_taps": -1}, headers=auth(token))
    wrong = client.post("/api/v1/heartbeat", json={}, headers=auth("pk_nope"))
    assert negative.status_code == 422 and "pending_taps" in negative.json["fields"]
    assert wrong.status_code == 401


def test_directory_lists_active_badges_by_keyed_hash_only(
    client, session: Session, clock: FrozenClock
) -> None:
    site = make_site(session)
    zoe = make_member(session, given_name="Zoé", display_name="Zoé", visibility="profile")
    make_badge(session, zoe, value="04A224B2C35A80")
    gone = make_member(session, given_name="Yann", archived_at=clock())
    make_badge(session, gone, value="04BBBBBBBBBBBB")
    revoked = make_member(session, given_name="Xavier")
    make_badge(session, revoked, value="04CCCCCCCCCCCC", revoked_at=clock())
    _kiosk, token = make_kiosk(session, site)
    session.commit()

    response = client.get("/api/v1/directory", headers=auth(token))

    assert response.status_code == 200
    directory = response.json
    assert "04A224B2C35A80" not in response.get_data(as_text=True)
    [entry] = directory["entries"]
    key, lookup = bytes.fromhex(directory["key"]), bytes.fromhex(directory["lookup_key"])
    # the kiosk hashes a read with the lookup key, then with its own directory key
    value_hash = hmac.new(lookup, b"nfc:04A224B2C35A80", hashlib.sha256).hexdigest()
    expected = hmac.new(key, f"nfc:{value_hash}".encode(), hashlib.sha256).hexdigest()[:32]
    assert entry == {"hash": expected, "name": "Zoé", "visibility": "profile"}
    assert lookup != key


def test_directory_key_changes_when_the_token_is_rotated(client, session: Session) -> None:
    from server.domain.kiosks import rotate_token

    kiosk, token = make_kiosk(session, make_site(session))
    session.commit()
    before = client.get("/api/v1/directory", headers=auth(token)).json["key"]
    new_token = rotate_token(session.get(Kiosk, kiosk.id), kiosk.created_at)
    session.commit()
    after = client.get("/api/v1/directory", headers=auth(new_token)).json["key"]
    assert before != after


def test_a_rotated_token_is_refused_at_once_by_every_endpoint(
    client, session: Session, clock: FrozenClock
) -> None:
    """The server remembers which kiosk a token opened; rotating the token (or deleting
    the kiosk) must still shut the old one out on the very next request."""
    from server.domain.kiosks import rotate_token

    kiosk, token = make_kiosk(session, make_site(session))
    member = make_member(session)
    make_badge(session, member, value="04A1B2C3D4E5F6")
    session.commit()
    tap = {"id": "5b0e8e52-5a4e-4a43-9a39-2d7d2a7a0c11", "badge": "04A1B2C3D4E5F6"}
    tap |= {"badge_kind": "nfc", "read_at": clock().isoformat()}
    heartbeat = {"version": "0.1.0"}
    assert client.post("/api/v1/heartbeat", json=heartbeat, headers=auth(token)).status_code == 200

    new_token = rotate_token(session.get(Kiosk, kiosk.id), kiosk.created_at)
    session.commit()

    refused = [
        client.post("/api/v1/taps", json={"taps": [tap]}, headers=auth(token)),
        client.post("/api/v1/heartbeat", json=heartbeat, headers=auth(token)),
        client.get("/api/v1/directory", headers=auth(token)),
    ]
    assert [(r.status_code, r.json["reason"]) for r in refused] == [(401, "invalid_token")] * 3
    assert (
        client.post("/api/v1/taps", json={"taps": [tap]}, headers=auth(new_token)).json["results"][
            0
        ]["outcome"]
        == "checked_in"
    )

    spare, spare_token = make_kiosk(session, make_site(session))
    session.commit()
    assert client.get("/api/v1/directory", headers=auth(spare_token)).status_code == 200
    session.delete(session.get(Kiosk, spare.id))
    session.commit()
    gone = client.post("/api/v1/heartbeat", json=heartbeat, headers=auth(spare_token))
    assert (gone.status_code, gone.json["reason"]) == (401, "invalid_token")


def test_a_kiosk_silent_for_five_minutes_shows_as_down(
    client, session: Session, clock: FrozenClock
) -> None:
    site = make_site(session)
    kiosk, token = make_kiosk(session, site)
    session.commit()
    assert health(kiosk, clock()) == "never seen"
    beat = client.post("/api/v1/heartbeat", json={"version": "0.1.0"}, headers=auth(token))
    assert beat.status_code == 200
    session.expire_all()
    seen = session.get(Kiosk, kiosk.id)
    assert health(seen, clock() + timedelta(minutes=4)) == "up"
    assert health(seen, clock() + timedelta(minutes=6)) == "down"
