"""A member's own page, through a signed link: their visits, their board visibility,
and a download of everything stored about them."""

from __future__ import annotations

import html
import json
import re
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from presence.cli import main
from server.domain import audit
from server.domain.links import LinkError, make_member_token, read_member_token
from server.domain.members import erase_member
from server.store.models import Member, TapKind, Visibility
from tests.conftest import PARIS, at
from tests.factories import (
    badge_tap,
    link_for,
    make_badge,
    make_kiosk,
    make_member,
    make_site,
    staff_entry,
    submit,
)

HOSTILE = "<img src=x onerror=alert(1)>"


def test_member_moves_from_hidden_to_profile_and_back(app, client, session, clock) -> None:
    alice = make_member(session, given_name="Alice")
    session.commit()
    url = link_for(app, alice.id)

    page = client.get(url)
    assert page.status_code == 200
    assert 'value="hidden" checked' in page.get_data(as_text=True)

    answer = submit(client, url, {"visibility": "profile"})
    # Back to the form's section (post/redirect/get), where the confirmation is.
    assert answer.status_code == 303 and answer.location == url + "#screen"
    saved = client.get(answer.location).get_data(as_text=True)
    assert 'role="status" tabindex="-1" data-flash>C&#39;est enregistré.' in saved
    assert "enregistré" not in client.get(url).get_data(as_text=True)  # said once
    session.expire_all()
    member = session.get(Member, alice.id)
    assert member.visibility is Visibility.PROFILE and member.visibility_consent_at == clock()
    session.rollback()  # let go of the database before the next request

    submit(client, url, {"visibility": "hidden"})
    session.expire_all()
    member = session.get(Member, alice.id)
    assert member.visibility is Visibility.HIDDEN and member.visibility_consent_at is None


def test_a_hostile_name_is_shown_as_text(app, client, session) -> None:
    member = make_member(session, given_name=HOSTILE)
    session.commit()
    body = client.get(link_for(app, member.id)).get_data(as_text=True)
    assert HOSTILE not in body
    assert "&lt;img src=x onerror=alert(1)&gt;" in body


def test_an_unknown_choice_changes_nothing(app, client, session) -> None:
    member = make_member(session)
    session.commit()
    response = submit(client, link_for(app, member.id), {"visibility": "everything"})
    assert response.status_code == 400
    assert "Choisissez" in response.get_data(as_text=True)
    session.expire_all()
    assert session.get(Member, member.id).visibility is Visibility.HIDDEN


def test_a_forged_or_altered_link_is_refused(app, client, session) -> None:
    member = make_member(session)
    session.commit()
    url = link_for(app, member.id)
    altered = client.get(url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB"))
    foreign = client.get("/me/" + make_member_token("another-secret", member.id))
    for response in (altered, foreign):
        assert response.status_code == 404
        assert "pas valide" in response.get_data(as_text=True)


def test_an_erased_member_has_no_page(app, client, session, clock) -> None:
    from server.domain.members import erase_member

    member = make_member(session)
    erase_member(session, member, clock())
    session.commit()
    assert client.get(link_for(app, member.id)).status_code == 404


def test_old_links_expire() -> None:
    token = make_member_token("secret", 7)
    assert read_member_token("secret", token) == 7
    with pytest.raises(LinkError) as caught:
        read_member_token("secret", token, max_age_days=-1)
    assert caught.value.expired


def test_cli_prints_a_working_link(app, client, session, config_file: Path) -> None:
    member = make_member(session, email="alice@example.org")
    session.commit()
    result = CliRunner().invoke(
        main, ["--config", str(config_file), "members", "link", "alice@example.org"]
    )
    assert result.exit_code == 0, result.output
    url = result.stdout.strip().splitlines()[0]
    assert url.startswith("http://127.0.0.1:5000/me/")
    assert client.get(url.removeprefix("http://127.0.0.1:5000")).status_code == 200
    assert member.id


def test_the_choice_form_needs_its_csrf_token(app, client, session) -> None:
    member = make_member(session)
    session.commit()
    refused = client.post(link_for(app, member.id), data={"visibility": "profile"})
    assert refused.status_code == 400
    session.expire_all()
    assert session.get(Member, member.id).visibility is Visibility.HIDDEN


# -- visits ------------------------------------------------------------------------------


def visit_rows(body: str) -> list[str]:
    """The rows of the visits table as a reader sees them: text only, spaces squeezed."""
    tbody = re.search(r"<tbody>(.*?)</tbody>", body, re.S)
    assert tbody, "no visits table on the page"
    rows = re.findall(r"<tr>(.*?)</tr>", tbody[1], re.S)
    return [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", row)).split()) for row in rows]


def test_visits_show_in_the_sites_time_most_recent_first(app, client, session, clock) -> None:
    """The clock is Tuesday 24 November 2026, 10:00 in Paris; the site closes at 19:00."""
    site = make_site(session, name="La Cantine du port")
    kiosk, _token = make_kiosk(session, site)
    alice = make_member(session, given_name="Alice")
    badge = make_badge(session, alice)
    badge_tap(session, kiosk, badge, datetime(2026, 8, 10, 10, 0, tzinfo=PARIS))  # too old
    badge_tap(session, kiosk, badge, datetime(2026, 8, 10, 11, 0, tzinfo=PARIS))
    badge_tap(session, kiosk, badge, at(10, day=20))  # Friday, never tapped out
    badge_tap(session, kiosk, badge, at(9, 12, day=23))  # Monday
    badge_tap(session, kiosk, badge, at(17, 45, day=23))
    badge_tap(session, kiosk, badge, at(9, 30))  # this morning, still here
    elsewhere = make_site(session, name="Le Garage")
    bob = make_member(session, given_name="Bob")
    badge_tap(session, make_kiosk(session, elsewhere)[0], make_badge(session, bob), at(9, 0))
    session.commit()

    page = client.get(link_for(app, alice.id))
    body = page.get_data(as_text=True)

    assert page.status_code == 200
    assert visit_rows(body) == [
        "mardi 24 novembre 2026 La Cantine du port 09:30 encore là 0 h 30 (jusqu'ici)",
        "lundi 23 novembre 2026 La Cantine du port 09:12 17:45 8 h 33",
        # 19:00 closing and the 30 minutes' grace after it
        "vendredi 20 novembre 2026 La Cantine du port 10:00 19:30 (à la fermeture) 9 h 30",
    ]
    assert "3 passages ces 90 derniers jours." in body
    assert "Ce mois-ci : 18 h 33 de présence." in body
    assert "Le Garage" not in body
    # Her statements: November so far (a half day closed at 19:30, a full day, this
    # morning's half hour) and August's hour.
    statements = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())
    assert "novembre 2026 : 38,00 € (provisoire)" in statements
    assert "août 2026 : 10,00 € (provisoire)" in statements
    detail = client.get(link_for(app, alice.id) + "/statements/2026-11")
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", detail.get_data(as_text=True))).split())
    assert detail.status_code == 200 and detail.headers["Cache-Control"] == "no-store"
    assert "lundi 23 novembre 8 h 33 journée à l'unité 18,00 €" in text
    assert "vendredi 20 novembre 0 h 00 (sortie non badgée) demi-journée" in text
    assert "Total TTC 38,00 €" in text
    assert client.get(link_for(app, alice.id) + "/statements/2026-13").status_code == 404
    assert '<th scope="col">Arrivée</th>' in body


def test_no_visits_yet_says_so_without_a_table(app, client, session) -> None:
    alice = make_member(session)
    session.commit()
    body = client.get(link_for(app, alice.id)).get_data(as_text=True)
    assert "Aucun passage ces 90 derniers jours." in body
    assert "Ce mois-ci : 0 h 00 de présence." in body
    assert "<table" not in body


def test_a_hostile_site_name_is_shown_as_text(app, client, session) -> None:
    site = make_site(session, name=HOSTILE)
    alice = make_member(session)
    badge_tap(session, make_kiosk(session, site)[0], make_badge(session, alice), at(9, 30))
    session.commit()
    body = client.get(link_for(app, alice.id)).get_data(as_text=True)
    assert HOSTILE not in body
    assert "&lt;img src=x onerror=alert(1)&gt;" in body


def test_the_page_speaks_the_members_language_until_they_switch(app, client, session) -> None:
    site = make_site(session)
    alice = make_member(session, language="en")
    badge_tap(session, make_kiosk(session, site)[0], make_badge(session, alice), at(9, 30))
    session.commit()
    url = link_for(app, alice.id)

    english = client.get(url).get_data(as_text=True)
    assert '<html lang="en">' in english
    assert "Tuesday, November 24, 2026" in english and "9:30" in english
    assert 'href="?lang=fr"' in english

    french = client.get(url + "?lang=fr").get_data(as_text=True)
    assert '<html lang="fr">' in french and "mardi 24 novembre 2026" in french
    assert 'href="?lang=en"' in french


def test_the_page_is_never_cached(app, client, session) -> None:
    alice = make_member(session)
    session.commit()
    assert client.get(link_for(app, alice.id)).headers["Cache-Control"] == "no-store"


# -- the download of one's data ----------------------------------------------------------


def test_the_download_holds_the_members_data_and_nobody_elses(app, client, session, clock) -> None:
    site = make_site(session, name="La Cantine du port")
    kiosk, _token = make_kiosk(session, site, name="porte-principale")
    alice = make_member(session, given_name="Alice", skills=["Python"])
    badge = make_badge(session, alice, label="carte bleue")
    badge_tap(session, kiosk, badge, at(9, 12, day=23))
    badge_tap(session, kiosk, badge, at(17, 45, day=23))
    staff_entry(session, alice, site, TapKind.STAFF_IN, at(9, 5), reason="badge oublié")
    audit.record(session, at(9, 6), "staff@example.org", "member.edit", f"member:{alice.id}")

    bob = make_member(session, given_name="Bob", email="bob@example.org")
    bob_badge = make_badge(session, bob, value="04BBBBBBBBBBBB")
    badge_tap(session, kiosk, bob_badge, at(9, 40))
    audit.record(
        session, at(9, 41), "staff@example.org", "member.edit", f"member:{bob.id}", "secret de Bob"
    )
    session.commit()
    url = link_for(app, alice.id)
    submit(client, url, {"visibility": "profile", "internet": "yes"})

    response = client.get(url + "/data.json")

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and disposition.endswith('.json"')
    body = response.get_data(as_text=True)
    data = json.loads(body)
    assert data["member"]["email"] == alice.email
    assert data["member"]["skills"] == ["Python"]
    assert data["consents"] == {
        "visibility": "profile",
        "visibility_consent_at": clock().isoformat(),
        "internet_consent_at": clock().isoformat(),
    }
    assert data["plans"] == [{"plan": "payg", "starts_on": "2026-01-01"}]
    assert [(b["kind"], b["label"], b["value_hint"]) for b in data["badges"]] == [
        ("nfc", "carte bleue", badge.value[-4:])  # the value itself is not kept
    ]
    assert data["badges"][0]["issued_at"] == "2026-01-01T00:00:00+00:00"
    assert [
        (t["occurred_at"], t["kiosk"], t["kind"], t["outcome"], t["actor"], t["reason"])
        for t in data["taps"]
    ] == [
        (at(9, 12, day=23).isoformat(), "porte-principale", "badge", "checked_in", None, ""),
        (at(17, 45, day=23).isoformat(), "porte-principale", "badge", "checked_out", None, ""),
        (at(9, 5).isoformat(), None, "staff_in", "checked_in", "staff@example.org", "badge oublié"),
    ]
    assert all(t["site"] == "La Cantine du port" for t in data["taps"])
    assert [(v["checked_in_at"], v["checked_out_at"], v["still_here"]) for v in data["visits"]] == [
        (at(9, 12, day=23).isoformat(), at(17, 45, day=23).isoformat(), False),
        (at(9, 5).isoformat(), None, True),
    ]
    assert [(entry["action"], entry["at"]) for entry in data["audit"]] == [
        ("member.edit", at(9, 6).isoformat())
    ]
    for foreign in ("bob@example.org", "04BBBBBBBBBBBB", "secret de Bob", "Bob"):
        assert foreign not in body


def test_an_erased_member_gets_nothing_from_their_link(app, client, session, clock) -> None:
    site = make_site(session)
    alice = make_member(session, email="alice@example.org")
    badge = make_badge(session, alice)
    make_badge(session, alice, kind="qr", value="qr-alice")
    badge_tap(session, make_kiosk(session, site)[0], badge, at(9, 30))
    url = link_for(app, alice.id)
    erase_member(session, alice, clock())
    session.commit()

    for path in ("", "/data.json", "/badge.png"):
        response = client.get(url + path)
        assert response.status_code == 404, path
        assert response.mimetype == "text/html"
        assert "pas valide" in response.get_data(as_text=True)


def test_the_download_refuses_forged_and_expired_links(app, client, session, monkeypatch) -> None:
    alice = make_member(session)
    session.commit()
    forged = client.get("/me/" + make_member_token("another-secret", alice.id) + "/data.json")
    assert forged.status_code == 404 and forged.mimetype == "text/html"

    with monkeypatch.context() as past:
        past.setattr("itsdangerous.timed.time.time", lambda: 1_000_000_000.0)  # 2001
        old = link_for(app, alice.id)
    expired = client.get(old + "/data.json")
    assert expired.status_code == 410 and "expiré" in expired.get_data(as_text=True)


# -- the member's own board card ---------------------------------------------------------


def png_bytes(size: tuple[int, int] = (40, 30)) -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, (200, 40, 40)).save(out, format="PNG")
    return out.getvalue()


def post_profile(client, url: str, data: dict, with_token: bool = True):
    """Send the card form from the member's page, as a browser does (multipart)."""
    page = client.get(url).get_data(as_text=True)
    token = re.search(r'id="csrf_token" name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert token, "no CSRF token in the card form"
    form = {**data, **({"csrf_token": token[1]} if with_token else {})}
    return client.post(url + "/profile", data=form, content_type="multipart/form-data")


def test_a_member_writes_their_own_card_and_sees_it_as_the_board_will(app, client, session) -> None:
    import io

    alice = make_member(session, given_name="Alice", visibility=Visibility.PROFILE)
    session.commit()
    url = link_for(app, alice.id)
    answer = post_profile(
        client,
        url,
        {
            "working_on": "Un atlas des <fontaines>",
            "open_to_chat_about": "cartographie",
            "skills": "Python, QGIS ,, dessin",
            "photo": (io.BytesIO(png_bytes()), "moi.png"),
        },
    )
    assert answer.status_code == 303 and answer.location == url + "#card"
    page = client.get(answer.location).get_data(as_text=True)
    assert "C&#39;est enregistré." in page
    preview = page[page.index('class="board-preview"') : page.index('class="profile-form"')]
    assert "Un atlas des &lt;fontaines&gt;" in preview and "<fontaines>" not in page
    assert "<li>QGIS</li>" in preview and "cartographie" in preview
    session.expire_all()
    member = session.get(Member, alice.id)
    assert (member.working_on, member.skills) == (
        "Un atlas des <fontaines>",
        ["Python", "QGIS", "dessin"],
    )
    assert member.photo and member.photo.startswith("/photos/")
    session.rollback()
    photo = client.get(url + "/photo")
    assert photo.status_code == 200 and photo.mimetype == "image/jpeg"
    photo.close()

    # Taking the photo off removes it, file and all.
    post_profile(client, url, {"working_on": "", "remove_photo": "y"})
    session.expire_all()
    assert session.get(Member, alice.id).photo is None
    session.rollback()
    assert client.get(url + "/photo").status_code == 404


def test_the_card_keeps_the_staff_forms_limits_and_needs_its_csrf_token(
    app, client, session
) -> None:
    import io

    member = make_member(session, given_name="Bob", visibility=Visibility.FIRST_NAME)
    session.commit()
    url = link_for(app, member.id)
    page = html.unescape(client.get(url).get_data(as_text=True))
    assert "n'apparaît que si vous choisissez « Profil »" in page
    too_long = post_profile(client, url, {"working_on": "x" * 501})
    assert too_long.status_code == 400 and "500" in too_long.get_data(as_text=True)
    long_skill = post_profile(client, url, {"skills": "y" * 61})
    assert long_skill.status_code == 400 and "60 caractères" in long_skill.get_data(as_text=True)
    not_a_picture = post_profile(client, url, {"photo": (io.BytesIO(b"GIF89a..."), "x.png")})
    assert not_a_picture.status_code == 400
    assert "image lisible" in not_a_picture.get_data(as_text=True)
    forged = post_profile(client, url, {"working_on": "piraté"}, with_token=False)
    assert forged.status_code == 400
    session.expire_all()
    assert session.get(Member, member.id).working_on == ""


def test_the_together_page_speaks_plainly_and_folds_the_technical_part(
    app, client, session
) -> None:
    member = make_member(session, given_name="Alice")
    session.commit()
    page = client.get(link_for(app, member.id) + "/together").get_data(as_text=True)
    folded = re.search(r"<details\b.*?</details>", page, re.S)
    assert folded, "the technical part is not folded away"
    plain = page.replace(folded[0], "")
    main = plain[plain.index("<main") :]
    for word in ("webhook", "X-Presence-Signature", "HMAC"):
        assert word not in main, word
    assert "qui peut être prévenu quand vous arrivez" in html.unescape(main)
    assert "X-Presence-Signature" in folded[0] and 'id="signing-key"' in folded[0]
    assert 'data-copies="signing-key"' in folded[0]
