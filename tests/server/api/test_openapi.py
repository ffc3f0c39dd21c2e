"""The OpenAPI document is valid OpenAPI 3 and describes every kiosk endpoint."""

from __future__ import annotations

from openapi_spec_validator import validate


def test_openapi_document_is_valid(client) -> None:
    response = client.get("/api/openapi.json")

    assert response.status_code == 200
    document = response.json
    validate(document)
    assert document["openapi"].startswith("3.")
    for path in ("/api/v1/taps", "/api/v1/heartbeat", "/api/v1/directory", "/healthz"):
        assert path in document["paths"], path


def test_errors_are_documented_in_the_shared_shape(client) -> None:
    document = client.get("/api/openapi.json").json
    error = document["components"]["schemas"]["Error"]
    assert {"status", "reason", "message"} <= set(error["properties"])
    taps = document["paths"]["/api/v1/taps"]["post"]
    assert {"200", "401", "413", "422"} <= set(taps["responses"])
    assert taps["security"] == [{"kioskToken": []}]


def test_healthz_answers_with_the_database_reachable(client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok"}
