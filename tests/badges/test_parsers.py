"""Property tests of what reads untrusted input: signed tokens (badges, guests' passes,
tickets), badge values, and the kiosk API's tap schema. Whatever comes in, each either
answers or refuses with its own error, never anything else."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from badges.tokens import (
    BadgeToken,
    TicketToken,
    TokenError,
    new_private_key,
    public_key_of,
    read_token,
    sign,
    sign_ticket,
    verify,
)
from badges.uid import BadUid, normalise_badge
from server.api.schemas import TapUploadSchema

KEY = new_private_key()
PUBLIC = public_key_of(KEY)
B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


@given(st.text(max_size=300) | st.text(alphabet=B32, max_size=200).map(lambda t: "P1" + t))
@settings(max_examples=400)
def test_any_text_is_a_token_or_a_token_error(text: str) -> None:
    try:
        found = read_token(PUBLIC, text)
    except TokenError as error:
        assert error.reason in {"malformed", "unknown_key", "bad_signature"}
    else:  # only what this key signed reads: a random string never does
        raise AssertionError(f"{text!r} read as {found}")


@given(st.integers(min_value=1, max_value=2**40), st.integers(min_value=1, max_value=1000))
def test_badges_and_tickets_read_back_and_never_pass_for_each_other(
    number: int, version: int
) -> None:
    badge = sign(KEY, BadgeToken(number, version))
    ticket = sign_ticket(KEY, TicketToken(number))
    assert read_token(PUBLIC, badge) == verify(PUBLIC, badge) == BadgeToken(number, version)
    assert read_token(PUBLIC, ticket.lower()) == TicketToken(number)  # scanners change case
    try:
        verify(PUBLIC, ticket)
    except TokenError as error:
        assert error.reason == "malformed"  # a ticket is not a badge
    else:
        raise AssertionError("a ticket verified as a badge")


@given(st.sampled_from(["nfc", "qr"]), st.text(max_size=600))
@settings(max_examples=400)
def test_any_badge_value_is_normalised_or_refused_as_bad(kind: str, raw: str) -> None:
    try:
        value = normalise_badge(kind, raw)
    except BadUid:
        return
    assert value and len(value) <= 512
    assert normalise_badge(kind, value) == value  # the normal form is a fixed point


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
TAP_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "id": st.uuids().map(str) | JSON,
        "badge": st.text(max_size=30) | JSON,
        "badge_kind": st.sampled_from(["nfc", "qr", "x"]) | JSON,
        "read_at": st.sampled_from(["2026-11-30T10:00:00+01:00", "yesterday"]) | JSON,
        "guest": st.fixed_dictionaries(
            {"name": st.text(max_size=120)}, optional={"host": JSON, "email": JSON}
        )
        | JSON,
        "leaving": st.uuids().map(str) | JSON,
        "walk_in": st.fixed_dictionaries({"event": JSON, "name": JSON}) | JSON,
        "monotonic": JSON,
        "boot_id": JSON,
    },
)


@given(
    st.fixed_dictionaries(
        {"taps": st.lists(TAP_FIELDS, max_size=3) | JSON}, optional={"clock": JSON}
    )
    | JSON
)
@settings(max_examples=500)
def test_any_upload_is_loaded_or_refused_with_field_errors(body: Any) -> None:
    try:
        loaded = TapUploadSchema().load(body)
    except ValidationError as error:
        assert error.messages  # says which field
        return
    for tap in loaded["taps"]:  # what passes is one kind of tap, with its time
        kinds = [name for name in ("badge", "guest", "leaving", "walk_in") if tap.get(name)]
        assert len(kinds) == 1 and tap["read_at"].tzinfo is not None
