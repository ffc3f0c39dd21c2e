"""The usual security headers on every answer: a strict Content-Security-Policy (inline
styles only with the request's nonce), no framing, no MIME sniffing, no referrer; HSTS
only where the site is served over HTTPS. And board sockets only from the same origin."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import socketio
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from server import create_app
from server.domain.sites import issue_display_token
from server.settings import ServerSection, Settings
from server.store import migrate
from server.store.db import make_engine, make_session_factory
from server.store.models import Base
from tests.factories import make_site
from tests.servers import ServerProcess, free_port, write_config


def policy(header: str) -> dict[str, str]:
    return dict(part.strip().split(" ", 1) for part in header.split(";") if part.strip())


def test_pages_and_the_api_carry_the_security_headers(
    client: FlaskClient, session: Session
) -> None:
    site = make_site(session)
    token = issue_display_token(site)
    session.commit()
    board = f"/board/{site.slug}?token={token}"
    for url in (
        "/",
        "/staff/login",
        "/events",
        "/announcements",
        board,
        "/api/openapi.json",
        "/healthz",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert "Strict-Transport-Security" not in response.headers  # plain HTTP on a LAN
        csp = policy(response.headers["Content-Security-Policy"])
        assert csp["default-src"] == "'self'" and csp["frame-ancestors"] == "'none'"
        assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
        style = re.search(r'<style nonce="([^"]+)"', response.text)
        if style:  # the one inline style of the pages is allowed by this answer's nonce
            assert f"'nonce-{style[1]}'" in csp["style-src"]
    first, second = (client.get("/staff/login").headers["Content-Security-Policy"] for _ in "ab")
    assert first != second  # a new nonce each time


def test_hsts_when_the_site_is_served_over_https(tmp_path: Path, database_url: str) -> None:
    server = ServerSection(
        data_dir=str(tmp_path), database_url=database_url, secret_key="k", secure_cookies=True
    )
    app: Flask = create_app(Settings(server=server))
    Base.metadata.create_all(app.extensions["presence"].engine)
    response = app.test_client().get("/staff/login", base_url="https://presence.example.org")
    assert "max-age=" in response.headers["Strict-Transport-Security"]
    app.extensions["presence"].engine.dispose()


@pytest.mark.parametrize("origin, accepted", [(None, True), ("http://evil.example", False)])
def test_a_board_socket_from_another_site_is_refused(
    tmp_path: Path, origin: str | None, accepted: bool
) -> None:
    port = free_port()
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'p.db'}", port=port)
    engine = make_engine(f"sqlite:///{tmp_path / 'p.db'}")
    migrate.upgrade(engine)
    with make_session_factory(engine)() as session, session.begin():
        site = make_site(session)
        slug, token = site.slug, issue_display_token(site)
    engine.dispose()
    server = ServerProcess(config, port).start()
    try:
        client = socketio.Client(reconnection=False)
        headers = {"Origin": origin} if origin else {}
        try:
            client.connect(
                server.base,
                namespaces=["/board"],
                transports=["websocket"],
                auth={"site": slug, "token": token},
                headers=headers,
                wait_timeout=10,
            )
            connected = client.connected
        except socketio.exceptions.ConnectionError:
            connected = False
        finally:
            client.disconnect()
        assert connected is accepted
    finally:
        server.stop()
