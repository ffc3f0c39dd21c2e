"""/metrics for Prometheus: read back with prometheus-client's own parser."""

from __future__ import annotations

from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session

from tests.conftest import FrozenClock, at
from tests.factories import make_badge, make_kiosk, make_member, make_site, tap_json, upload


def samples(client: FlaskClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=0.0.4")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_metrics_count_taps_and_read_the_state_of_each_site(
    client: FlaskClient, session: Session, clock: FrozenClock
) -> None:
    clock.set(at(10))
    site = make_site(session, slug="cantine", opening_hours={})
    badge = make_badge(session, make_member(session)).value
    _kiosk, token = make_kiosk(session, site)
    session.commit()
    first = tap_json(badge, clock())
    upload(client, token, first, tap_json("04DEADBEEF0001", clock()))
    upload(client, token, first)  # resent: counted once
    found = samples(client)
    assert found[("presence_taps_total", (("outcome", "checked_in"),))] == 1
    assert found[("presence_taps_total", (("outcome", "unknown_badge"),))] == 1
    assert found[("presence_tap_upload_seconds_count", ())] == 2
    assert found[("presence_head_count", (("site", "cantine"),))] == 1
    assert found[("presence_kiosks_up", (("site", "cantine"),))] == 1
    assert found[("presence_deliveries_waiting", ())] == 0
    assert found[("presence_boards_connected", ())] == 0
    clock.advance(minutes=10)  # the kiosk falls silent
    assert samples(client)[("presence_kiosks_up", (("site", "cantine"),))] == 0


def test_metrics_say_whether_each_kiosks_badge_reader_works(
    client: FlaskClient, session: Session
) -> None:
    """1 for a reader that works, 0 for one gone or stuck, nothing while a kiosk has
    not said (an older kiosk, or one that does not know yet)."""
    site = make_site(session, slug="cantine")
    tokens = {name: make_kiosk(session, site, name=name)[1] for name in ("a", "b", "c", "d")}
    session.commit()
    for name, reader in (("a", "ok"), ("b", "gone"), ("c", "stuck")):
        body = {"reader": reader}
        headers = {"Authorization": f"Bearer {tokens[name]}"}
        assert client.post("/api/v1/heartbeat", json=body, headers=headers).status_code == 200

    found = samples(client)

    readers = {
        dict(labels)["kiosk"]: value
        for (name, labels), value in found.items()
        if name == "presence_kiosk_reader_up"
    }
    assert readers == {"a": 1, "b": 0, "c": 0}
    assert found[("presence_kiosk_reader_up", (("kiosk", "a"), ("site", "cantine")))] == 1


def test_metrics_are_for_the_monitoring_network_only(client: FlaskClient) -> None:
    outside = client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.7"})
    assert outside.status_code == 403
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 200
