"""The wall board: who may open it, what it shows of whom, and the numbered changes.

Socket messages are read with Flask-SocketIO's test client, which receives what the
server emits after a tap posted through the real kiosk API. The browser and the
multi-process paths are in test_board_browser.py and test_board_processes.py.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from flask_socketio import SocketIOTestClient
from sqlalchemy.orm import Session

from presence.cli import main
from server import create_app
from server.domain.sites import issue_display_token
from server.settings import BoardSection, Settings
from server.store.models import Member, Site, Visibility
from tests.conftest import at
from tests.factories import make_badge, make_kiosk, make_member, make_site, submit, tap_json

HOSTILE = "<img src=x onerror=alert(1)>"


class Space:
    """A site with a kiosk and a display token, and helpers to tap and watch."""

    def __init__(self, app: Flask, client: FlaskClient, session: Session, **site: Any) -> None:
        self.app, self.client, self.session = app, client, session
        self.site = make_site(session, **site)
        self.kiosk, self.kiosk_token = make_kiosk(session, self.site)
        self.token = issue_display_token(self.site)
        session.commit()

    def member(self, visibility: Visibility, **fields: Any) -> tuple[Member, str]:
        member = make_member(self.session, visibility=visibility, **fields)
        badge = make_badge(self.session, member)
        self.session.commit()
        return member, badge.value

    def tap(self, badge: str, when: Any) -> dict[str, Any]:
        response = self.client.post(
            "/api/v1/taps",
            json={"taps": [tap_json(badge, when)]},
            headers={"Authorization": f"Bearer {self.kiosk_token}"},
        )
        assert response.status_code == 200, response.json
        result: dict[str, Any] = response.json["results"][0]
        return result

    def board(self, token: str | None = "") -> SocketIOTestClient:
        socketio = self.app.extensions["socketio"]
        auth = {"site": self.site.slug, "token": self.token if token == "" else token}
        return socketio.test_client(
            self.app, namespace="/board", auth=auth, flask_test_client=self.client
        )

    def page(self, **query: str) -> Any:
        return self.client.get(f"/board/{self.site.slug}", query_string=query)


def received(board: SocketIOTestClient, name: str) -> list[dict[str, Any]]:
    return [
        event["args"][0]
        for event in board.get_received("/board")
        if event["name"] == name and event["args"]
    ]


@pytest.fixture
def space(app: Flask, client: FlaskClient, session: Session) -> Space:
    return Space(app, client, session, name="La Cantine", capacity=30)


# -- who may see it --------------------------------------------------------------------


def test_a_board_without_its_token_is_refused_with_a_clear_page(space: Space) -> None:
    missing = space.page()
    wrong = space.page(token="not-the-key")
    assert missing.status_code == 403 and wrong.status_code == 403
    assert "réservé aux écrans du lieu" in missing.get_data(as_text=True)
    assert "plus valide" in wrong.get_data(as_text=True)
    english = space.page(lang="en").get_data(as_text=True)
    assert '<html lang="en">' in english and "for the space&#39;s own screens" in english


def test_the_strip_refuses_in_the_one_json_shape(space: Space) -> None:
    slug = space.site.slug
    refused = space.client.get(f"/board/{slug}/strip?token=not-the-key&lang=en")
    nowhere = space.client.get("/board/nowhere/strip")
    assert (refused.status_code, nowhere.status_code) == (403, 404)
    assert refused.json == {
        "status": "error",
        "reason": "display_token_invalid",
        "message": refused.json["message"],
    }
    assert "no longer valid" in refused.json["message"]
    assert nowhere.json["reason"] == "no_such_site"
    assert space.client.get(f"/board/{slug}/strip?token={space.token}").status_code == 200


def test_the_display_token_opens_the_board(space: Space) -> None:
    response = space.page(token=space.token)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_data(as_text=True)
    assert "La Cantine" in body and "socket.io.min.js" in body


def test_a_client_inside_an_allowed_network_needs_no_token(
    settings: Settings, clock: Any, session: Session
) -> None:
    site = make_site(session)
    session.commit()
    lan = settings.model_copy(update={"board": BoardSection(allowed_networks=["192.168.10.0/24"])})
    app = create_app(lan, clock=clock)
    client = app.test_client()
    inside = client.get(f"/board/{site.slug}", environ_base={"REMOTE_ADDR": "192.168.10.23"})
    outside = client.get(f"/board/{site.slug}", environ_base={"REMOTE_ADDR": "192.168.11.23"})
    app.extensions["presence"].engine.dispose()
    assert inside.status_code == 200
    assert outside.status_code == 403


def test_unknown_site_and_first_site(space: Space) -> None:
    assert space.client.get("/board/nowhere").status_code == 404
    first = space.client.get("/board", query_string={"token": space.token, "lang": "en"})
    assert first.status_code == 302
    assert first.headers["Location"].startswith(f"/board/{space.site.slug}?")
    assert f"token={space.token}" in first.headers["Location"]


def test_a_socket_without_the_token_is_refused(space: Space) -> None:
    assert not space.board(token=None).is_connected("/board")
    assert not space.board(token="forged").is_connected("/board")
    assert space.board().is_connected("/board")


def test_the_cli_issues_a_new_link_and_the_old_one_stops_working(
    space: Space, config_file: Any
) -> None:
    runner = CliRunner()
    first = runner.invoke(main, ["--config", str(config_file), "sites", "board-link", "nope"])
    assert first.exit_code == 1 and "no site 'nope'" in first.output
    args = ["--config", str(config_file), "sites", "board-link", space.site.slug, "--lang", "en"]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    url = result.stdout.strip()
    assert url.startswith(f"http://127.0.0.1:5000/board/{space.site.slug}?token=")
    assert url.endswith("&lang=en")
    new_token = url.split("token=")[1].split("&")[0]
    assert space.page(token=new_token).status_code == 200
    assert space.page(token=space.token).status_code == 403


# -- what it shows of whom ---------------------------------------------------------------


def test_the_state_names_only_whom_their_level_allows(space: Space, clock: Any) -> None:
    _hidden, hidden_badge = space.member(
        Visibility.HIDDEN, given_name="Ségolène", display_name="Ségolène R.", skills=["SQL"]
    )
    _first, first_badge = space.member(
        Visibility.FIRST_NAME, given_name="Bruno", display_name="Bruno K.", working_on="Secret"
    )
    _profile, profile_badge = space.member(
        Visibility.PROFILE,
        given_name="Chloé",
        display_name="Chloé D.",
        skills=["accessibilité", "Python"],
        working_on="Un atlas des fontaines",
        open_to_chat_about="vélo",
    )
    for minute, badge in enumerate((hidden_badge, first_badge, profile_badge)):
        space.tap(badge, at(9, 10 + minute))

    board = space.board()
    (state,) = received(board, "state")

    assert state["head_count"] == 3
    cards = {card["name"]: card for card in state["people"]}
    assert set(cards) == {"Bruno", "Chloé D."}
    assert set(cards["Bruno"]) == {"key", "name", "initials", "since"}
    assert cards["Chloé D."]["skills"] == ["accessibilité", "Python"]
    assert cards["Chloé D."]["working_on"] == "Un atlas des fontaines"
    assert cards["Chloé D."]["chat_about"] == "vélo"
    assert cards["Chloé D."]["initials"] == "CD"
    assert state["site"] == {
        "slug": space.site.slug,
        "name": "La Cantine",
        "timezone": "Europe/Paris",
        "capacity": 30,
    }
    assert state["open"] is True and state["hours_today"] == [["09:00", "19:00"]]
    text = json.dumps(state, ensure_ascii=False)
    for leak in ("Ségolène", "SQL", "Secret", "K.", "@example.org", hidden_badge):
        assert leak not in text


def test_a_hidden_member_arrives_and_leaves_as_a_number_only(space: Space, clock: Any) -> None:
    member, badge = space.member(Visibility.HIDDEN, given_name="Ségolène")
    board = space.board()
    (state,) = received(board, "state")

    space.tap(badge, clock())
    clock.advance(minutes=30)
    space.tap(badge, clock())

    arrived, left = received(board, "change")
    assert arrived == {"seq": state["seq"] + 1, "head_count": 1}
    assert left == {"seq": state["seq"] + 2, "head_count": 0}
    assert member.email and member.email not in json.dumps([arrived, left])


def test_arrival_and_departure_of_a_named_member(space: Space, clock: Any) -> None:
    _member, badge = space.member(Visibility.FIRST_NAME, given_name="Bruno")
    board = space.board()
    (state,) = received(board, "state")

    space.tap(badge, clock())
    (arrival,) = received(board, "change")
    assert arrival["seq"] == state["seq"] + 1 and arrival["head_count"] == 1
    assert arrival["put"]["name"] == "Bruno"
    assert arrival["put"]["since"] == clock().isoformat()

    clock.advance(minutes=5)
    space.tap(badge, clock())
    (departure,) = received(board, "change")
    assert departure == {
        "seq": state["seq"] + 2,
        "head_count": 0,
        "drop": arrival["put"]["key"],
    }


def test_a_repeat_read_changes_nothing_and_sends_nothing(space: Space, clock: Any) -> None:
    _member, badge = space.member(Visibility.FIRST_NAME)
    space.tap(badge, clock())
    board = space.board()
    received(board, "state")
    clock.advance(seconds=5)
    assert space.tap(badge, clock())["outcome"] == "duplicate"
    assert received(board, "change") == []


def test_numbers_come_from_the_database_and_survive_a_restart(
    space: Space, clock: Any, settings: Any
) -> None:
    _member, badge = space.member(Visibility.FIRST_NAME)
    space.tap(badge, clock())
    clock.advance(minutes=2)
    space.tap(badge, clock())
    space.session.expire_all()
    assert space.session.get(Site, space.site.id).board_seq == 2
    space.session.rollback()

    restarted = create_app(settings, clock=clock)  # a new process on the same database
    socketio = restarted.extensions["socketio"]
    board = socketio.test_client(
        restarted, namespace="/board", auth={"site": space.site.slug, "token": space.token}
    )
    (state,) = received(board, "state")
    assert state["seq"] == 2
    restarted.extensions["presence"].engine.dispose()


def test_a_board_connecting_costs_the_same_queries_however_many_are_present(
    space: Space, clock: Any
) -> None:
    """After a restart every board connects at once: each state must not cost a query
    per person present (it did: 1,000 boards with 50 people took 16 s)."""
    from sqlalchemy import event

    engine = space.app.extensions["presence"].engine
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    def connect_and_count() -> int:
        statements.clear()
        event.listen(engine, "before_cursor_execute", count)
        try:
            (state,) = received(space.board(), "state")
        finally:
            event.remove(engine, "before_cursor_execute", count)
        return len(statements)

    for n in range(2):
        _member, badge = space.member(Visibility.FIRST_NAME, given_name=f"Early{n}")
        space.tap(badge, at(9, n))
    few = connect_and_count()
    for n in range(8):
        _member, badge = space.member(Visibility.PROFILE, given_name=f"Late{n}")
        space.tap(badge, at(10, n))
    many = connect_and_count()
    assert many == few, statements


def test_sync_answers_the_whole_state(space: Space, clock: Any) -> None:
    _member, badge = space.member(Visibility.FIRST_NAME, given_name="Bruno")
    board = space.board()
    received(board, "state")
    space.tap(badge, clock())
    fresh = board.emit("sync", None, namespace="/board", callback=True)
    assert fresh["seq"] == 1 and [card["name"] for card in fresh["people"]] == ["Bruno"]


def test_a_check_in_elsewhere_takes_the_card_off_the_first_site(
    app: Flask, client: FlaskClient, session: Session, clock: Any
) -> None:
    first = Space(app, client, session, slug="brest", name="Brest")
    second = Space(app, client, session, slug="quimper", name="Quimper")
    member, badge = first.member(Visibility.FIRST_NAME, given_name="Bruno")
    board_brest, board_quimper = first.board(), second.board()
    received(board_brest, "state"), received(board_quimper, "state")

    first.tap(badge, clock())
    clock.advance(hours=1)
    second.tap(badge, clock())

    brest = received(board_brest, "change")
    quimper = received(board_quimper, "change")
    assert [("put" in c, "drop" in c, c["head_count"]) for c in brest] == [
        (True, False, 1),
        (False, True, 0),
    ]
    assert [(c["put"]["name"], c["head_count"], c["seq"]) for c in quimper] == [("Bruno", 1, 1)]


def test_a_member_changing_level_while_present_updates_the_board(space: Space, clock: Any) -> None:
    from server.domain.links import make_member_token

    member, badge = space.member(
        Visibility.HIDDEN, given_name="Chloé", display_name="Chloé D.", skills=["vélo"]
    )
    space.tap(badge, clock())
    board = space.board()
    received(board, "state")
    link = "/me/" + make_member_token(space.app.config["SECRET_KEY"], member.id)

    submit(space.client, link, {"visibility": "profile"})
    (shown,) = received(board, "change")
    assert shown["put"]["name"] == "Chloé D." and shown["put"]["skills"] == ["vélo"]
    assert shown["head_count"] == 1

    submit(space.client, link, {"visibility": "hidden"})
    (hidden,) = received(board, "change")
    assert hidden == {"seq": shown["seq"] + 1, "head_count": 1, "drop": shown["put"]["key"]}


def test_a_hostile_name_is_embedded_as_data_not_markup(space: Space, clock: Any) -> None:
    _member, badge = space.member(Visibility.FIRST_NAME, given_name=HOSTILE)
    space.tap(badge, clock())
    body = space.page(token=space.token).get_data(as_text=True)
    assert HOSTILE not in body
    assert "\\u003cimg src=x onerror=alert(1)\\u003e" in body


def test_the_state_says_when_to_ask_again(space: Space, clock: Any) -> None:
    _member, badge = space.member(Visibility.FIRST_NAME)
    board = space.board()
    (empty,) = received(board, "state")
    assert empty["refresh_at"] == at(19).isoformat()  # closing time
    space.tap(badge, clock())
    fresh = board.emit("sync", None, namespace="/board", callback=True)
    # The visit ends by itself 30 min after closing; the site closes first.
    assert fresh["refresh_at"] == at(19).isoformat()
    clock.set(at(19, 10))
    fresh = board.emit("sync", None, namespace="/board", callback=True)
    # Past closing with someone in: open for SpaceAPI, "closed, 1 person still here".
    assert fresh["status"] == "after_hours" and fresh["open"] is True
    assert fresh["head_count"] == 1
    assert fresh["refresh_at"] == at(19, 30).isoformat()


# -- SpaceAPI names ----------------------------------------------------------------------


def test_spaceapi_names_only_members_who_consented_to_the_internet(
    space: Space, clock: Any
) -> None:
    from server.domain.links import make_member_token

    named, named_badge = space.member(Visibility.FIRST_NAME, given_name="Bruno")
    shy, shy_badge = space.member(Visibility.PROFILE, given_name="Chloé")
    hidden, hidden_badge = space.member(Visibility.HIDDEN, given_name="Ségolène")
    for badge in (named_badge, shy_badge, hidden_badge):
        space.tap(badge, clock())
    for member, level in ((named, "first_name"), (hidden, "hidden")):
        link = "/me/" + make_member_token(space.app.config["SECRET_KEY"], member.id)
        assert (
            submit(space.client, link, {"visibility": level, "internet": "yes"}).status_code == 303
        )

    people = space.client.get("/spaceapi.json").json["sensors"]["people_now_present"][0]
    assert people == {"value": 3, "location": "La Cantine", "names": ["Bruno"]}
    space.session.expire_all()
    assert space.session.get(Member, hidden.id).internet_consent_at is None
    assert space.session.get(Member, shy.id).internet_consent_at is None


# -- namesakes ---------------------------------------------------------------------------


def test_namesakes_show_the_initial_their_level_allows(space: Space, clock: Any) -> None:
    """The family name's initial is the least that tells two people apart; a member who
    shows only a first name keeps it that way, even beside a namesake."""
    for family, level in (
        ("Morvan", Visibility.PROFILE),
        ("riou", Visibility.PROFILE),
        ("Le Bihan", Visibility.FIRST_NAME),
    ):
        _member, badge = space.member(level, given_name="Baptiste", family_name=family)
        space.tap(badge, clock())
    _chloe, badge = space.member(Visibility.PROFILE, given_name="Chloé", family_name="Durand")
    space.tap(badge, clock())

    (state,) = received(space.board(), "state")

    names = sorted(card["name"] for card in state["people"])
    assert names == ["Baptiste", "Baptiste M.", "Baptiste R.", "Chloé"]
    initials = {card["name"]: card["initials"] for card in state["people"]}
    assert initials["Baptiste R."] == "BR" and initials["Baptiste"] == "B"
    assert "Le Bihan" not in json.dumps(state) and "L." not in json.dumps(state)


def test_a_second_baptiste_arriving_renames_the_first_live_and_leaving_undoes_it(
    space: Space, clock: Any
) -> None:
    _first, first_badge = space.member(
        Visibility.PROFILE, given_name="Baptiste", family_name="Morvan"
    )
    _second, second_badge = space.member(
        Visibility.PROFILE, given_name="baptiste", display_name="baptiste", family_name="Riou"
    )
    board = space.board()
    (state,) = received(board, "state")

    space.tap(first_badge, clock())
    (alone,) = received(board, "change")
    assert alone["put"]["name"] == "Baptiste"

    clock.advance(minutes=10)
    space.tap(second_badge, clock())
    arrival, renamed = received(board, "change")
    assert arrival["put"]["name"] == "baptiste R."
    assert renamed["put"] == {**alone["put"], "name": "Baptiste M.", "initials": "BM"}
    assert [arrival["seq"], renamed["seq"]] == [state["seq"] + 2, state["seq"] + 3]
    assert renamed["head_count"] == 2

    clock.advance(minutes=10)
    space.tap(second_badge, clock())
    departure, back = received(board, "change")
    assert departure["drop"] == arrival["put"]["key"]
    assert back["put"]["name"] == "Baptiste" and back["head_count"] == 1

    # What a board that connects now is told agrees with what the live one made of it.
    (fresh,) = received(space.board(), "state")
    assert fresh["people"] == [back["put"]]


def test_a_namesake_hiding_themselves_gives_the_other_their_plain_name_back(
    space: Space, clock: Any
) -> None:
    from server.domain.links import make_member_token

    shy, shy_badge = space.member(Visibility.PROFILE, given_name="Baptiste", family_name="Riou")
    _other, other_badge = space.member(
        Visibility.PROFILE, given_name="Baptiste", family_name="Morvan"
    )
    space.tap(shy_badge, clock())
    space.tap(other_badge, clock())
    board = space.board()
    (state,) = received(board, "state")
    assert sorted(card["name"] for card in state["people"]) == ["Baptiste M.", "Baptiste R."]

    link = "/me/" + make_member_token(space.app.config["SECRET_KEY"], shy.id)
    submit(space.client, link, {"visibility": "hidden"})
    changes = received(board, "change")
    assert [change.get("put", {}).get("name") for change in changes] == [None, "Baptiste"]
    assert "drop" in changes[0]


# -- open or closed, and the empty board ----------------------------------------------------


@pytest.mark.parametrize(
    ("when", "present", "status", "is_open"),
    [
        (at(10), True, "open", True),
        (at(19, 10), True, "after_hours", True),  # the visit ends by itself at 19:30
        (at(23), False, "closed", False),
        (at(10), False, "open", True),
    ],
    ids=["open-with-people", "closed-with-people", "closed-empty", "open-empty"],
)
def test_the_board_and_spaceapi_agree_on_open_or_closed(
    space: Space, clock: Any, when: Any, present: bool, status: str, is_open: bool
) -> None:
    if present:
        _member, badge = space.member(Visibility.FIRST_NAME, given_name="Bruno")
        space.tap(badge, at(18, 30))
    clock.set(when)

    (state,) = received(space.board(), "state")
    spaceapi = space.client.get(f"/sites/{space.site.slug}/spaceapi.json").json

    assert (state["status"], state["open"]) == (status, is_open)
    assert spaceapi["state"]["open"] is state["open"]
    count = spaceapi["sensors"]["people_now_present"][0]["value"]
    assert count == state["head_count"] == (1 if present else 0)


def test_the_header_words_for_closed_with_people_still_in() -> None:
    from server.web.board import STRINGS

    assert STRINGS["fr"]["closed_but_here"]["other"].format(n=62) == (
        "Fermé — 62 personnes encore là"
    )
    assert STRINGS["en"]["closed_but_here"]["one"].format(n=1) == "Closed — 1 person still here"


@pytest.mark.parametrize(
    ("when", "came", "words", "time"),
    [
        (at(8), False, "opens", "09:00"),
        (at(10), False, "first", None),
        (at(11), True, "again", None),
        (at(13), True, "reopens", "14:00"),
        (at(20), True, "all_gone", None),
        (at(20), False, "closed", None),
        (at(10, day=29), False, "closed", None),  # a Sunday: closed all day
    ],
)
def test_an_empty_board_says_what_is_true_at_that_time_of_day(
    app: Flask,
    client: FlaskClient,
    session: Session,
    clock: Any,
    when: Any,
    came: bool,
    words: str,
    time: str | None,
) -> None:
    lunch = {day: [["09:00", "12:30"], ["14:00", "19:00"]] for day in ("mon", "tue", "wed")}
    space = Space(app, client, session, opening_hours=lunch)
    if came:  # someone came in the morning and left
        _member, badge = space.member(Visibility.HIDDEN)
        space.tap(badge, at(9, 30))
        space.tap(badge, at(10, 30))
    clock.set(when)

    (state,) = received(space.board(), "state")

    assert state["head_count"] == 0
    assert state["empty"] == {"words": words, "time": time}


def test_someone_present_leaves_no_empty_words(space: Space, clock: Any) -> None:
    _member, badge = space.member(Visibility.HIDDEN)
    space.tap(badge, clock())
    (state,) = received(space.board(), "state")
    assert state["empty"] is None and state["head_count"] == 1


# -- words and typography --------------------------------------------------------------------


def page_setup(space: Space, lang: str) -> dict[str, Any]:
    body = space.page(token=space.token, lang=lang).get_data(as_text=True)
    marker = '<script id="board-setup" type="application/json">'
    start = body.index(marker) + len(marker)
    setup: dict[str, Any] = json.loads(body[start : body.index("</script>", start)])
    return setup


def test_the_others_line_says_one_or_several_in_each_language(space: Space) -> None:
    french, english = page_setup(space, "fr")["strings"], page_setup(space, "en")["strings"]
    assert french["others"]["one"].format(n=1) == "+1 autre"
    assert french["others"]["other"].format(n=2) == "+2 autres"
    assert english["others"]["one"].format(n=1) == "+1 other"
    assert english["others"]["other"].format(n=2) == "+2 others"


def test_a_colon_has_a_narrow_space_before_it_in_french_and_none_in_english(
    space: Space,
) -> None:
    french, english = page_setup(space, "fr")["strings"], page_setup(space, "en")["strings"]
    for strings, wrong in ((french, re.compile(r"(?<!\u202f)[:!]")), (english, re.compile(r"\s:"))):
        texts = [
            text
            for value in strings.values()
            for text in (value.values() if isinstance(value, dict) else [value])
        ]
        assert not [text for text in texts if wrong.search(text)], strings["hours"]
    assert english["hours"] == "Today: {hours}" and english["label"] == "{label}: "
    assert french["hours"] == "Aujourd'hui\u202f: {hours}"


def test_the_strip_gives_event_times_on_the_24_hour_clock(space: Space, clock: Any) -> None:
    from server.domain.meetups import add_event

    evening = at(18, 30)
    add_event(
        space.session,
        space.site,
        "Apéro",
        evening,
        at(20),
        "community",
        True,
        "",
        None,
        "t",
        clock(),
    )
    space.session.commit()
    for lang in ("fr", "en"):
        strip = space.client.get(
            f"/board/{space.site.slug}/strip", query_string={"token": space.token, "lang": lang}
        ).json
        assert strip["events"] == [{"title": "Apéro", "at": "18:30"}]
