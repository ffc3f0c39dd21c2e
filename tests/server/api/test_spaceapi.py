"""SpaceAPI: valid against the official v15 schema, a count and never a name."""

from __future__ import annotations

import json

import jsonschema
import pytest

from tests.conftest import TEST_DATA, at
from tests.factories import make_badge, make_kiosk, make_member, make_site, tap_json

#: The official schema, copied into the repository (tests/data/README.md names its source).
SCHEMA = TEST_DATA / "spaceapi-15.schema.json"


@pytest.fixture
def spaceapi_schema() -> dict:  # type: ignore[type-arg]
    return json.loads(SCHEMA.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_spaceapi_validates_and_counts_without_names(
    client, session, clock, spaceapi_schema
) -> None:
    site = make_site(session, name="La Cantine", lat=48.39, lon=-4.49, address="Brest")
    secret = make_member(session, given_name="Ségolène", display_name="Ségolène")
    make_badge(session, secret, value="04A224B2C35A80")
    _kiosk, token = make_kiosk(session, site)
    session.commit()
    client.post(
        "/api/v1/taps",
        json={"taps": [tap_json("04A224B2C35A80", clock())]},
        headers={"Authorization": f"Bearer {token}"},
    )

    response = client.get("/spaceapi.json")

    assert response.status_code == 200
    document = response.json
    jsonschema.validate(document, spaceapi_schema)
    assert document["space"] == "La Cantine"
    assert document["state"]["open"] is True
    assert document["sensors"]["people_now_present"][0]["value"] == 1
    assert "Ségolène" not in response.get_data(as_text=True)
    assert client.get(f"/sites/{site.slug}/spaceapi.json").json == document


def test_spaceapi_closed_and_empty_at_night(client, session, clock, spaceapi_schema) -> None:
    make_site(session)
    session.commit()
    clock.set(at(23))
    document = client.get("/spaceapi.json").json
    jsonschema.validate(document, spaceapi_schema)
    assert document["state"]["open"] is False
    assert document["sensors"]["people_now_present"][0]["value"] == 0


def test_spaceapi_for_an_unknown_site_is_404(client, session) -> None:
    response = client.get("/sites/nowhere/spaceapi.json")
    assert response.status_code == 404 and response.json["reason"] == "not_found"
    assert client.get("/spaceapi.json").status_code == 404
