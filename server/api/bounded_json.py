"""JSON bodies read at a bounded cost: too deep, or with an absurd number, is a 400.

Python's `json` recurses once per level of nesting (20,000 levels: a RecursionError) and
converts a number of any length (5,000 digits: a ValueError from the int conversion
limit, 100,000 digits: seconds of CPU). No body we accept needs more than a few levels
or a number beyond a 64-bit integer, so every JSON request body is checked once, before
a view or webargs reads it: its depth by a linear scan of the raw bytes (no recursion),
its numbers by `json.loads` hooks that refuse long literals, infinities and NaN.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from flask import Flask, request

from server.api.errors import ApiError

#: The deepest nesting of arrays and objects a body may have (ours need 4).
MAX_DEPTH = 32
#: The longest number literal, in characters ("-" and digits; a 64-bit integer is 20).
MAX_NUMBER_CHARS = 30

#: A JSON string, escapes included; an unterminated one runs to the end. Possessive and
#: never failing once started, so linear: a pattern that can fail retries from every
#: later quote (quadratic: minutes for 256 KiB of `"\`).
_STRING = re.compile(rb'"[^"\\]*+(?:\\.[^"\\]*+)*+(?:"|\\?\Z)', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")


class BodyRefused(ValueError):
    """A JSON body we will not read, with the reason code and message of the answer."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def nesting_depth(body: bytes) -> int:
    """The deepest nesting of `[` and `{` in a JSON text, brackets in strings aside.

    Stops counting at `MAX_DEPTH + 1`: the answer is only ever compared with the limit."""
    level = deepest = 0
    for bracket in _BRACKET.finditer(_STRING.sub(b'""', body)):
        if bracket.group() in (b"[", b"{"):
            level += 1
            if level > deepest:
                deepest = level
                if deepest > MAX_DEPTH:
                    break
        else:
            level = max(level - 1, 0)
    return deepest


def _integer(literal: str) -> int:
    if len(literal) > MAX_NUMBER_CHARS:
        raise BodyRefused("number_too_long", f"Numbers have at most {MAX_NUMBER_CHARS} characters.")
    return int(literal)


def _real(literal: str) -> float:
    if len(literal) > MAX_NUMBER_CHARS:
        raise BodyRefused("number_too_long", f"Numbers have at most {MAX_NUMBER_CHARS} characters.")
    number = float(literal)
    if not math.isfinite(number):
        raise BodyRefused("number_not_finite", "Numbers must be finite.")
    return number


def _constant(name: str) -> Any:
    raise BodyRefused("number_not_finite", f"{name} is not JSON: numbers must be finite.")


def check_json(body: bytes) -> None:
    """Refuse (`BodyRefused`) a JSON text too deep or with an absurd number; a text that
    is not JSON at all is left for the reader to refuse as it always did."""
    if nesting_depth(body) > MAX_DEPTH:
        raise BodyRefused("json_too_deep", f"JSON may nest at most {MAX_DEPTH} levels.")
    try:
        json.loads(body, parse_int=_integer, parse_float=_real, parse_constant=_constant)
    except BodyRefused:
        raise
    except (ValueError, RecursionError):  # malformed: the view's reader says so
        pass


def init_bounded_json(app: Flask) -> None:
    """Check every JSON request body of `app` before anything reads it."""

    @app.before_request
    def check_json_body() -> None:
        if not request.is_json:
            return
        body = request.get_data(cache=True)  # bounded by MAX_CONTENT_LENGTH
        if not body:
            return
        try:
            check_json(body)
        except BodyRefused as refused:
            raise ApiError(400, refused.reason, refused.message) from None
