"""Badges as credentials: signed QR tokens, revocation and re-issue, NFC enrolment."""

from __future__ import annotations

import io
import string
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from badges.tokens import (
    BadgeToken,
    TokenError,
    new_private_key,
    public_key_of,
    sign,
    verify,
)
from presence.cli import main
from server.store.models import Visit
from tests.factories import make_kiosk, make_member, make_site, tap_json

KEY = new_private_key()
PUBLIC = public_key_of(KEY)
QR_ALPHANUMERIC = set(string.digits + string.ascii_uppercase + " $%*+-./:")


# -- tokens ------------------------------------------------------------------------------


def test_a_token_names_its_badge_and_fits_a_small_qr_code() -> None:
    token = sign(KEY, BadgeToken(4321, 3))
    assert verify(PUBLIC, token) == BadgeToken(4321, 3)
    assert verify(PUBLIC, token.lower()) == BadgeToken(4321, 3)  # scanners may lower-case
    assert set(token) <= QR_ALPHANUMERIC
    assert len(token) <= 122  # version 5 at error correction M holds 122 such characters
    assert sign(KEY, BadgeToken(4321, 3)) == token  # the server finds a badge by its token


def test_each_kind_of_bad_token_has_its_own_reason() -> None:
    token = sign(KEY, BadgeToken(7, 1))
    altered = token[:-10] + ("A" if token[-10] != "A" else "B") + token[-9:]
    foreign = sign(new_private_key(), BadgeToken(7, 1))
    reasons = {}
    for name, bad in (("altered", altered), ("foreign", foreign), ("garbage", "P1!!")):
        with pytest.raises(TokenError) as refused:
            verify(PUBLIC, bad)
        reasons[name] = refused.value.reason
    assert reasons == {
        "altered": "bad_signature",
        "foreign": "unknown_key",
        "garbage": "malformed",
    }


@settings(max_examples=300, deadline=None)
@given(
    position=st.integers(min_value=2),
    replacement=st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"),
)
def test_no_single_character_change_makes_another_valid_token(
    position: int, replacement: str
) -> None:
    token = sign(KEY, BadgeToken(12, 2))
    position = 2 + position % (len(token) - 2)
    changed = token[:position] + replacement + token[position + 1 :]
    if changed == token:
        return
    try:
        named = verify(PUBLIC, changed)
    except TokenError:
        return
    # Base32's last character carries padding bits; a change there may decode the same.
    assert named == BadgeToken(12, 2) and position == len(token) - 1


# -- at the door -------------------------------------------------------------------------


def presence(config: Any, *args: str) -> str:
    result = CliRunner().invoke(main, ["--config", str(config), *args])
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


@pytest.fixture
def door(app: Any, session: Any, config_file: Any) -> dict[str, Any]:
    site = make_site(session)
    member = make_member(session, given_name="Alice", email="alice@example.org")
    _kiosk, token = make_kiosk(session, site)
    session.commit()
    return {"member": member, "token": token, "config": config_file}


def tap(client: Any, door: dict[str, Any], badge: str, when: Any, kind: str = "qr") -> Any:
    response = client.post(
        "/api/v1/taps",
        json={"taps": [tap_json(badge, when, badge_kind=kind)]},
        headers={"Authorization": f"Bearer {door['token']}"},
    )
    assert response.status_code == 200, response.json
    return response.json["results"][0]


def test_an_issued_qr_badge_checks_in_and_bad_ones_each_say_why(
    client: Any, session: Any, door: dict[str, Any], clock: Any
) -> None:
    config = door["config"]
    first = presence(config, "badges", "issue-qr", "alice@example.org", "--label", "carte")
    runtime_key = client.application.extensions["presence"].badge_private_key
    badge_id = verify(public_key_of(runtime_key), first).badge_id

    altered = first[:-10] + ("A" if first[-10] != "A" else "B") + first[-9:]
    foreign = sign(new_private_key(), BadgeToken(badge_id, 1))
    refused = {
        name: tap(client, door, token, clock())
        for name, token in (
            ("altered", altered),
            ("foreign", foreign),
        )
    }
    assert {name: (r["outcome"], r["reason"]) for name, r in refused.items()} == {
        "altered": ("invalid", "bad_signature"),
        "foreign": ("invalid", "unknown_key"),
    }

    second = presence(config, "badges", "reissue", str(badge_id))
    assert second != first
    old = tap(client, door, first, clock())
    assert (old["outcome"], old["reason"]) == ("revoked", "replaced")

    presence(config, "badges", "revoke", str(badge_id))
    gone = tap(client, door, second, clock())
    assert (gone["outcome"], gone["reason"]) == ("revoked", "revoked")
    session.expire_all()
    assert session.query(Visit).count() == 0  # none of them opened anything


def test_a_valid_qr_badge_opens_a_visit_and_the_kiosk_gets_the_key(
    client: Any, session: Any, door: dict[str, Any], clock: Any
) -> None:
    token = presence(door["config"], "badges", "issue-qr", "alice@example.org")
    result = tap(client, door, token, clock())
    assert (result["outcome"], result["name"]) == ("checked_in", "Alice")
    directory = client.get(
        "/api/v1/directory", headers={"Authorization": f"Bearer {door['token']}"}
    ).json
    assert bytes.fromhex(directory["badge_key"]) == public_key_of(
        client.application.extensions["presence"].badge_private_key
    )


def test_an_unknown_nfc_badge_is_listed_then_enrolled_in_one_step(
    client: Any, session: Any, door: dict[str, Any], clock: Any
) -> None:
    config = door["config"]
    first = tap(client, door, "04:AA:BB:CC:DD:EE:01", clock(), kind="nfc")
    assert first["outcome"] == "unknown_badge"
    listed = presence(config, "badges", "unknown")
    assert listed.startswith("nfc\t04AABBCCDDEE01\t1 tap(s)\tlast ")
    assert " at door-" in listed  # the kiosk it was tapped at

    presence(config, "badges", "assign", "alice@example.org", "04AABBCCDDEE01")
    assert presence(config, "badges", "unknown") == ""
    clock.advance(seconds=5)
    again = tap(client, door, "04AABBCCDDEE01", clock(), kind="nfc")
    assert (again["outcome"], again["name"]) == ("checked_in", "Alice")


# -- printed cards -------------------------------------------------------------------------


def test_every_printed_qr_decodes_to_a_token_the_server_accepts(
    client: Any, session: Any, door: dict[str, Any], clock: Any, tmp_path: Any
) -> None:
    """Read back with an independent decoder (zxing-cpp), from each PNG and from the PDF
    pages rendered at 300 dpi (pdfium), then tapped at the door."""
    import pypdfium2
    import zxingcpp
    from PIL import Image

    config = door["config"]
    people = [("Zoë", "Œuvray"), ("Jean-Baptiste", "Le Goff-Kerhervé"), ("Li", "Wei")]
    issued = set()
    for first, family in people:
        email = f"{first.lower()[:2]}@example.org"
        names = ["--given-name", first, "--family-name", family]
        presence(config, "members", "add", *names, "--email", email)
        issued.add(presence(config, "badges", "issue-qr", email, "--label", "carte 2026"))
    issued.add(presence(config, "badges", "issue-qr", "alice@example.org"))
    pdf, pngs = tmp_path / "cards.pdf", tmp_path / "png"
    printed = presence(config, "badges", "print", "--out", str(pdf), "--png-dir", str(pngs))
    assert printed == f"{pdf}: 4 card(s) on 1 A4 page(s)"

    from_png = {zxingcpp.read_barcodes(Image.open(path))[0].text for path in pngs.glob("*.png")}
    page = pypdfium2.PdfDocument(str(pdf))[0].render(scale=300 / 72).to_pil()
    from_pdf = {found.text for found in zxingcpp.read_barcodes(page)}
    assert from_png == from_pdf == issued

    for minute, token in enumerate(sorted(from_pdf)):
        result = tap(client, door, token, clock() + timedelta(minutes=minute))
        assert result["outcome"] == "checked_in", result


def test_a_member_downloads_their_qr_badge_for_their_phone(
    app: Any, client: Any, door: dict[str, Any]
) -> None:
    import zxingcpp
    from PIL import Image

    from server.domain.links import make_member_token

    link = "/me/" + make_member_token(app.config["SECRET_KEY"], door["member"].id)
    assert client.get(link + "/badge.png").status_code == 404  # none yet: a clear page
    token = presence(door["config"], "badges", "issue-qr", "alice@example.org")
    assert "badge.png" in client.get(link).get_data(as_text=True)
    image = client.get(link + "/badge.png")
    assert image.status_code == 200 and image.mimetype == "image/png"
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(image.data)))
    assert [found.text for found in decoded] == [token]
