"""Members: erasure leaves an anonymous tombstone, so counts stay and the person goes."""

from __future__ import annotations

from sqlalchemy import func, select

from server.domain import audit
from server.domain.members import erase_member
from server.domain.presence import head_count
from server.store.models import AuditEntry, Tap, Visit
from tests.conftest import FrozenClock
from tests.factories import make_badge, make_kiosk, make_member, make_site, tap_json


def test_erased_member_is_anonymous_but_still_counted(client, session, clock: FrozenClock) -> None:
    site = make_site(session)
    alice = make_member(session, given_name="Alice", skills=["Python"], working_on="une appli")
    alice.internet_consent_at = clock()
    make_badge(session, alice, value="04A224B2C35A80")
    audit.record(
        session,
        clock(),
        "staff@example.org",
        "badge.assign",
        f"member:{alice.id}",
        badge=1,
        value="04A224B2C35A80",
    )
    _kiosk, token = make_kiosk(session, site)
    session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    client.post(
        "/api/v1/taps", json={"taps": [tap_json("04A224B2C35A80", clock())]}, headers=headers
    )

    erase_member(session, alice, clock())
    session.commit()
    session.expire_all()

    assert (alice.given_name, alice.family_name, alice.email, alice.skills) == ("", "", None, [])
    assert alice.working_on == "" and alice.erased_at == clock()
    assert session.scalar(select(func.count()).select_from(Visit)) == 1
    assert head_count(session, site.id, clock()) == 1
    assert session.scalar(select(Tap.badge_value)) is None
    assert all(badge.value_hash.startswith("erased-") for badge in alice.badges)
    assert all(badge.value_hint == "" for badge in alice.badges)
    assert alice.internet_consent_at is None
    (entry,) = session.scalars(select(AuditEntry)).all()
    assert entry.action == "badge.assign" and "04A224B2C35A80" not in str(entry.details)

    session.commit()  # let go of the database before the next request
    clock.advance(hours=1)
    again = client.post(
        "/api/v1/taps", json={"taps": [tap_json("04A224B2C35A80", clock())]}, headers=headers
    )
    assert again.json["results"][0]["outcome"] == "unknown_badge"
