"""A member chooses their own board visibility through a signed link."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from presence.cli import main
from server.links import LinkError, make_member_token, read_member_token
from server.models import Member, Visibility
from tests.factories import make_member, submit

HOSTILE = "<img src=x onerror=alert(1)>"


def link_for(app, member_id: int) -> str:  # type: ignore[no-untyped-def]
    return "/me/" + make_member_token(app.config["SECRET_KEY"], member_id)


def test_member_moves_from_hidden_to_profile_and_back(app, client, session, clock) -> None:
    alice = make_member(session, given_name="Alice")
    session.commit()
    url = link_for(app, alice.id)

    page = client.get(url)
    assert page.status_code == 200
    assert 'value="hidden" checked' in page.get_data(as_text=True)

    saved = submit(client, url, {"visibility": "profile"})
    assert saved.status_code == 200 and "enregistré" in saved.get_data(as_text=True)
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
    from server.members import erase_member

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
