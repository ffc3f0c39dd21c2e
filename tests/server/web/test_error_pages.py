"""A page that fails answers with a page of ours, in the reader's language, that says
what to do: never werkzeug's English page, never a traceback; the API keeps its JSON."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from server import create_app
from server.settings import ServerSection, Settings
from server.store.models import Base


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    app = create_app(Settings(server=ServerSection(data_dir=str(tmp_path), secret_key="s")))
    Base.metadata.create_all(app.extensions["presence"].engine)

    @app.get("/test/broken")
    def broken() -> str:
        raise RuntimeError("a bug, with a secret detail")

    yield app
    app.extensions["presence"].engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def heading(html: str) -> str:
    found = re.search(r"<h1>(.*?)</h1>", html, re.S)
    assert found, html[:300]
    return found.group(1).strip()


def test_an_unknown_address_gets_our_page_in_the_readers_language(client: FlaskClient) -> None:
    french = client.get("/nulle-part")
    assert french.status_code == 404 and heading(french.text) == "Page introuvable"
    english = client.get("/nowhere", headers={"Accept-Language": "en"})
    assert english.status_code == 404 and heading(english.text) == "Page not found"
    assert "werkzeug" not in french.text.lower() and "Not Found</h1>" not in english.text


def test_a_wrong_method_and_a_body_too_large_say_what_to_do(client: FlaskClient) -> None:
    wrong = client.post("/events")
    assert wrong.status_code == 405 and heading(wrong.text) == "Action impossible ici"
    large = client.post(
        "/staff/login",
        data=b"email=" + b"x" * (300 * 1024),
        content_type="application/x-www-form-urlencoded",
    )
    assert large.status_code == 413 and heading(large.text) == "Envoi trop volumineux"
    # It is styled by the app's stylesheet, which the policy allows, even though the
    # request failed early; no inline style is left to need a nonce.
    assert 'href="/static/presence.css"' in large.text and "<style" not in large.text
    assert "style-src 'self'" in large.headers["Content-Security-Policy"]


def test_a_bug_gets_our_page_and_no_detail(client: FlaskClient) -> None:
    answer = client.get("/test/broken")
    assert answer.status_code == 500 and heading(answer.text) == "Erreur de notre côté"
    assert "secret detail" not in answer.text and "Traceback" not in answer.text


def test_the_api_keeps_answering_errors_in_json(client: FlaskClient) -> None:
    answer = client.get("/api/v1/nowhere")
    assert answer.status_code == 404
    assert answer.json == {
        "status": "error",
        "reason": "not_found",
        "message": answer.json["message"],
    }
