"""Announcements: posted by staff or proposed by members and published by staff, shown
until their end on the public page and the boards' strip, beside today's events."""

from __future__ import annotations

import json
import re
from html import unescape
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.domain.meetups import add_event
from server.domain.sites import issue_display_token
from server.domain.staff import add_staff
from server.store.models import Announcement, StaffRole
from tests.conftest import FrozenClock, at
from tests.factories import PASSWORD, csrf, link_for, log_in, make_member, make_site, submit


def strip_of(page: str) -> dict[str, Any]:
    setup = re.search(r'<script id="board-setup" type="application/json">(.*?)</script>', page)
    assert setup
    found: dict[str, Any] = json.loads(setup[1])["strip"]
    return found


def test_a_members_proposal_is_published_by_staff_and_shown_until_its_end(
    app: Flask, client: FlaskClient, session: Session, clock: FrozenClock
) -> None:
    clock.set(at(10))
    add_staff(session, "accueil@example.org", "Accueil", StaffRole.STAFF, PASSWORD, clock())
    site = make_site(session, name="La Cantine")
    token = issue_display_token(site)
    zoe = make_member(session, given_name="Zoé")
    add_event(
        session,
        site,
        "Soirée <Rust>",
        at(19),
        at(21),
        "community",
        True,
        "",
        None,
        "staff",
        clock(),
    )
    session.commit()
    mine, slug = link_for(app, zoe.id) + "/together", site.slug

    too_long = submit(client, mine, {"action": "propose", "text": "x" * 281, "days": "3"})
    assert too_long.status_code == 400
    proposed = submit(
        client,
        mine,
        {"action": "propose", "days": "3", "text": "Je cherche un·e associé·e <dev> !\x07"},
        follow=True,
    )
    assert proposed.status_code == 200 and "en attente de l" in unescape(proposed.text)
    assert "associé" not in client.get("/announcements").text  # not before staff publish it

    log_in(client, "accueil@example.org")
    page = client.get("/staff/announcements").text
    assert "Je cherche un·e associé·e &lt;dev&gt; !" in page  # escaped, control char dropped
    note_id = session.scalars(select(Announcement.id)).one()
    session.rollback()
    publish = f"/staff/announcements/{note_id}/publish"
    assert client.post(publish, data={"csrf_token": csrf(client)}).status_code == 302
    staff_note = {"text": "Clé trouvée à l'accueil", "until": "2026-11-24", "site": ""}
    assert submit(client, "/staff/announcements", staff_note).status_code == 302

    public = unescape(client.get("/announcements").text)
    assert "Je cherche un·e associé·e <dev> !" not in client.get("/announcements").text
    assert "associé·e <dev>" in public and "Clé trouvée" in public
    board = client.get(f"/board/{slug}?token={token}").text
    strip = strip_of(board)
    assert strip["events"] == [{"title": "Soirée <Rust>", "at": "19:00"}]
    assert [a["text"] for a in strip["announcements"]] == [
        "Clé trouvée à l'accueil",
        "Je cherche un·e associé·e <dev> !",
    ]
    assert client.get(f"/board/{slug}/strip").status_code == 403  # the board's key
    assert client.get(f"/board/{slug}/strip?token={token}").json == strip

    clock.set(at(10, day=25))  # the staff note ended with the 24th, the member's goes on
    again = client.get(f"/board/{slug}/strip?token={token}").json
    assert [a["text"] for a in again["announcements"]] == ["Je cherche un·e associé·e <dev> !"]
    assert again["events"] == []  # yesterday's evening is over
    clock.advance(days=3)
    assert client.get(f"/board/{slug}/strip?token={token}").json["announcements"] == []
    assert "Aucune annonce" in client.get("/announcements").text
