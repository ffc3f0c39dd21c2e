"""Finding anyone from the staff pages (every word, any order, accents or not), long
lists a page at a time, and the dashboard as the desk's home: check a member in or out
from its search, and the "À faire" box (pack used up, reader unplugged, kiosk down)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.domain.billing import record_pack
from server.domain.desk import is_present
from server.domain.members import erase_member, import_csv
from server.domain.staff import add_staff
from server.settings import BillingSection
from server.store.models import AuditEntry, Member, MemberPlan, Plan, StaffRole, StaffUser
from tests.factories import PASSWORD, csrf, log_in, make_kiosk, make_member, make_site, submit


@pytest.fixture
def desk(session: Session, clock: Any) -> StaffUser:
    user = add_staff(session, "accueil@example.org", "Accueil", StaffRole.STAFF, PASSWORD, clock())
    session.commit()
    return user


def names(page: str) -> list[str]:
    """The members listed in the table of the members page, in its order."""
    return re.findall(r'<a href="/staff/members/\d+">([^<]+)</a>', page)


@pytest.fixture
def people(session: Session) -> dict[str, Member]:
    found = {
        "hugo": make_member(
            session, given_name="Hugo", family_name="Fournier", email="hugo.f@example.org"
        ),
        "heloise": make_member(session, given_name="Héloïse", family_name="Durand"),
        "eloise": make_member(session, given_name="Heloise", family_name="Petit"),
        "anais": make_member(session, given_name="Anaïs", family_name="Nin", display_name="Nana"),
        "percent": make_member(session, given_name="Cent", family_name="100%_Bio"),
        "hugues": make_member(session, given_name="Hugues", family_name="Fournier-Lebrun"),
    }
    session.commit()
    return found


def test_the_search_matches_every_word_in_any_field_whatever_the_accents_and_case(
    client: FlaskClient, people: dict[str, Member], desk: StaffUser
) -> None:
    log_in(client, desk.email)

    def found(query: str) -> set[str]:
        page = client.get("/staff/members", query_string={"q": query})
        return set(names(page.get_data(as_text=True)))

    assert found("Hugo Fournier") == {"Hugo Fournier"}
    assert found("fournier hugo") == {"Hugo Fournier"}  # word order is free
    assert found("FOURNIER") == {"Hugo Fournier", "Hugues Fournier-Lebrun"}
    assert found("héloïse") == {"Héloïse Durand", "Heloise Petit"}
    assert found("heloise") == {"Héloïse Durand", "Heloise Petit"}
    assert found("ANAÏS") == {"Anaïs Nin"}
    assert found("nana") == {"Anaïs Nin"}  # the display name
    assert found("hugo.f@example") == {"Hugo Fournier"}  # the e-mail
    assert found("hugo durand") == set()  # each word must match
    assert found("zzz") == set()
    assert found("100%") == {"Cent 100%_Bio"}  # a % typed is a %, not "anything"
    assert found("%") == {"Cent 100%_Bio"}
    assert found("_") == {"Cent 100%_Bio"}


def test_the_search_column_follows_every_write_and_erasure_blanks_it(
    session: Session, people: dict[str, Member], clock: Any
) -> None:
    hugo = people["hugo"]
    assert hugo.search == "hugo fournier hugo hugo.f@example.org"  # display name: given
    hugo.family_name = "Mercier"
    session.commit()
    assert session.get(Member, hugo.id).search.startswith("hugo mercier")  # type: ignore[union-attr]
    report = import_csv(
        session, "given_name,family_name,email\nÉlodie,Gaël,e@example.org\n", clock().date()
    )
    assert [m.search for m in report.created] == ["elodie gael elodie e@example.org"]
    erase_member(session, hugo, clock())
    session.commit()
    assert session.get(Member, hugo.id).search == ""  # type: ignore[union-attr]


def test_the_members_list_is_paged_and_a_page_past_the_end_shows_the_last(
    client: FlaskClient, session: Session, desk: StaffUser
) -> None:
    for n in range(120):
        make_member(session, given_name=f"Membre{n:03d}", family_name=f"Famille{n:03d}")
    session.commit()
    log_in(client, desk.email)

    first = client.get("/staff/members").get_data(as_text=True)
    assert names(first)[0] == "Membre000 Famille000" and len(names(first)) == 50
    assert "120 membres" in first and "Page 1 sur 3" in first
    second = client.get("/staff/members?page=2").get_data(as_text=True)
    assert names(second)[0] == "Membre050 Famille050" and len(names(second)) == 50
    assert 'href="/staff/members?page=3" rel="next"' in second
    assert 'href="/staff/members" rel="prev"' in second  # page 1 is the list's own address
    last = client.get("/staff/members?page=99").get_data(as_text=True)
    assert names(last) == [f"Membre{n:03d} Famille{n:03d}" for n in range(100, 120)]
    assert "Page 3 sur 3" in last
    assert names(client.get("/staff/members?page=x").get_data(as_text=True)) == names(first)
    # The filters stay in the links to the other pages.
    searched = client.get("/staff/members?q=famille0").get_data(as_text=True)
    assert "Page 1 sur 2" in searched and len(names(searched)) == 50  # 000 to 099
    assert 'href="/staff/members?q=famille0&amp;page=2"' in searched
    # The search as one types asks for the results alone.
    part = client.get("/staff/members?q=membre119&part=results").get_data(as_text=True)
    assert names(part) == ["Membre119 Famille119"] and "<nav aria-label" not in part
    assert 'data-said="1 membre"' in part


def test_the_audit_trail_is_paged(
    client: FlaskClient, session: Session, desk: StaffUser, clock: Any
) -> None:
    for n in range(130):
        session.add(
            AuditEntry(
                at=clock() + timedelta(seconds=n),
                actor=desk.email,
                action="member.archive",
                target="",
                reason=f"raison-{n:03d}",
                details={},
            )
        )
    session.commit()
    log_in(client, desk.email)

    first = client.get("/staff/audit").get_data(as_text=True)
    assert "raison-129" in first and "raison-030" in first and "raison-029" not in first
    assert "Page 1 sur 2" in first and 'href="/staff/audit?page=2"' in first
    second = client.get("/staff/audit?page=2").get_data(as_text=True)
    assert "raison-029" in second and "raison-000" in second and "raison-030" not in second


def test_the_desk_checks_a_member_in_then_out_from_the_dashboard_search(
    client: FlaskClient, session: Session, people: dict[str, Member], desk: StaffUser, clock: Any
) -> None:
    site = make_site(session, opening_hours={})
    session.commit()
    log_in(client, desk.email)

    matches = client.get("/staff/desk?find=fourn hu").get_data(as_text=True)
    assert names(matches) == ["Hugo Fournier", "Hugues Fournier-Lebrun"]
    assert "Faire entrer" in matches
    # Without JavaScript: the search lists the matches in the dashboard, each with a button.
    page = client.get("/staff/?find=hugo+fournier").get_data(as_text=True)
    assert "Faire entrer" in page and "Hugo Fournier" in page
    token = csrf(client, "/staff/")
    hugo = people["hugo"].id
    answer = client.post(
        "/staff/desk",
        data={"csrf_token": token, "member": str(hugo), "site": str(site.id)},
        headers={"Accept": "application/json"},
    )
    assert answer.status_code == 200 and answer.json["outcome"] == "checked_in"
    assert answer.json["said"] == f"Hugo Fournier : entrée enregistrée à {site.name}."
    session.expire_all()
    assert is_present(session, hugo, site.id, clock())
    session.rollback()  # let go of the database before the next request
    dashboard = client.get("/staff/").get_data(as_text=True)
    assert f'<a href="/staff/members/{hugo}">Hugo Fournier</a>' in dashboard  # a link now
    assert "Faire sortir" in client.get("/staff/desk?find=hugo fournier").get_data(as_text=True)

    clock.advance(minutes=5)
    # The plain form: no member chosen, the first match of the words typed; a redirect.
    out = client.post("/staff/desk", data={"csrf_token": token, "find": "Fournier Hugo"})
    assert out.status_code == 302
    session.expire_all()
    assert not is_present(session, hugo, site.id, clock())
    session.rollback()
    assert "Hugo Fournier : sortie enregistrée" in client.get("/staff/").get_data(as_text=True)
    trail = session.scalars(
        select(AuditEntry.reason).where(AuditEntry.target == f"member:{hugo}")
    ).all()
    assert trail == ["accueil", "accueil"]
    session.rollback()

    nobody = client.post(
        "/staff/desk",
        data={"csrf_token": token, "find": "personne ici"},
        headers={"Accept": "application/json"},
    )
    assert nobody.status_code == 404 and nobody.json["said"] == "Aucun membre ne correspond."
    assert client.post("/staff/desk", data={"member": str(hugo)}).status_code == 400  # no CSRF


def test_a_pack_member_without_credit_checked_in_is_said_at_once_and_on_the_dashboard(
    client: FlaskClient, session: Session, desk: StaffUser, clock: Any
) -> None:
    site = make_site(session, opening_hours={})
    empty = make_member(session, given_name="Paula", family_name="Carnet")
    empty.plans = [MemberPlan(plan=Plan.PACK, starts_on=clock().date() - timedelta(days=40))]
    full = make_member(session, given_name="Pierre", family_name="Carnet")
    full.plans = [MemberPlan(plan=Plan.PACK, starts_on=clock().date() - timedelta(days=40))]
    record_pack(session, full, clock().date() - timedelta(days=3), "desk", BillingSection())
    session.commit()
    log_in(client, desk.email)
    token = csrf(client, "/staff/")

    def check_in(member: Member) -> Any:
        return client.post(
            "/staff/desk",
            data={"csrf_token": token, "member": str(member.id), "site": str(site.id)},
            headers={"Accept": "application/json"},
        ).json

    assert "Carnet épuisé" in check_in(empty)["warning"]
    assert check_in(full)["warning"] is None
    page = client.get("/staff/").get_data(as_text=True)
    to_do = page.split('id="to-do-title"')[1].split("</section>")[0]
    assert "Paula Carnet" in to_do and "Pierre Carnet" not in to_do
    # The same from the member's page (a check-in by hand): the flash says it.
    clock.advance(minutes=30)
    client.post(
        f"/staff/members/{empty.id}/check-out",
        data={"csrf_token": token, "site": str(site.id), "reason": "test"},
    )
    clock.advance(minutes=30)
    client.post(
        f"/staff/members/{empty.id}/check-in",
        data={"csrf_token": token, "site": str(site.id), "reason": "revenue"},
    )
    assert "Carnet épuisé" in client.get(f"/staff/members/{empty.id}").get_data(as_text=True)


def test_an_unplugged_reader_and_a_silent_kiosk_are_on_the_to_do_list(
    client: FlaskClient, session: Session, desk: StaffUser, clock: Any
) -> None:
    site = make_site(session)
    _door, token = make_kiosk(session, site, name="porte")
    _back, silent = make_kiosk(session, site, name="arrière")
    session.commit()
    auth = {"Authorization": f"Bearer {silent}"}
    assert client.post("/api/v1/heartbeat", json={"reader": "ok"}, headers=auth).status_code == 200
    clock.advance(minutes=10)  # the back door's kiosk says nothing any more
    auth = {"Authorization": f"Bearer {token}"}
    assert (
        client.post("/api/v1/heartbeat", json={"reader": "gone"}, headers=auth).status_code == 200
    )
    log_in(client, desk.email)

    page = client.get("/staff/").get_data(as_text=True)
    to_do = page.split('id="to-do-title"')[1].split("</section>")[0]
    assert "Le lecteur de badges de la borne porte est débranché" in to_do
    assert "La borne arrière ne répond plus" in to_do
    assert client.post("/api/v1/heartbeat", json={"reader": "ok"}, headers=auth).status_code == 200
    assert "Le lecteur de badges de la borne porte" not in client.get("/staff/live").get_data(
        as_text=True
    )


def test_the_dashboard_lists_no_member_to_enrol_a_badge_but_takes_a_name(
    client: FlaskClient, session: Session, people: dict[str, Member], desk: StaffUser
) -> None:
    site = make_site(session)
    _kiosk, token = make_kiosk(session, site)
    session.commit()
    tap = {"taps": [{"id": "5f0c3a52-1c2b-4a8e-9a55-0b7f1c2d3e4f", "badge": "04A1B2C3D4E5F6"}]}
    tap["taps"][0]["read_at"] = "2026-11-24T09:00:00+00:00"
    client.post("/api/v1/taps", json=tap, headers={"Authorization": f"Bearer {token}"})
    log_in(client, desk.email)
    page = client.get("/staff/").get_data(as_text=True)
    assert "<option" not in page.split('id="live-unknown"')[1]  # not every member, ever
    form = {"csrf_token": csrf(client, "/staff/"), "kind": "nfc", "value": "04A1B2C3D4E5F6"}
    client.post("/staff/badges/enrol", data={**form, "member": "fournier"})
    assert "Plusieurs membres correspondent" in client.get("/staff/").get_data(as_text=True)
    client.post("/staff/badges/enrol", data={**form, "member": "hugo fournier"})
    assert "Badge attribué à Hugo" in client.get("/staff/").get_data(as_text=True)


def test_a_sponsor_is_named_by_typing_not_chosen_among_everyone(
    client: FlaskClient, session: Session, people: dict[str, Member], desk: StaffUser
) -> None:
    anais, hugo, eloise = (people[name].id for name in ("anais", "hugo", "eloise"))
    session.rollback()  # the ids are read: let go of the database
    log_in(client, desk.email)
    url = f"/staff/members/{anais}/edit"
    assert "<option" not in client.get(url).get_data(as_text=True).split("sponsor_text")[1]
    form = {"given_name": "Anaïs", "plan": "payg", "visibility": "hidden"}

    def sponsor_after(text: str) -> tuple[int, int | None]:
        answer = submit(client, url, {**form, "sponsor_text": text})
        session.expire_all()
        found = session.get(Member, anais)
        sponsor = found.sponsor_id if found else None
        session.rollback()
        return answer.status_code, sponsor

    assert sponsor_after("hugo fournier") == (302, hugo)
    shown = f"{hugo} Hugo Fournier"
    assert f'value="{shown}"' in client.get(url).get_data(as_text=True)
    assert sponsor_after(shown) == (302, hugo)  # the form sent back as shown: unchanged
    assert sponsor_after("fournier") == (200, hugo)  # two Fourniers: say which
    assert sponsor_after("anaïs") == (200, hugo)  # not oneself
    assert sponsor_after(str(eloise)) == (302, eloise)
    assert sponsor_after("") == (302, None)
