"""Opening hours: the CLI form, validation, periods past midnight, DST, closing time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from server.domain.hours import HoursError, check_weekly, parse_weekly

PARIS = ZoneInfo("Europe/Paris")
WEEKDAYS_9_TO_19 = {day: [["09:00", "19:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}


def paris(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """A Paris wall time, as the UTC instant the rest of the code works with."""
    return datetime(year, month, day, hour, minute, tzinfo=PARIS).astimezone(UTC)


def nov(day: int, hour: int, minute: int = 0) -> datetime:
    """November 2026 in Paris: the 23rd is a Monday, the 28th a Saturday."""
    return paris(2026, 11, day, hour, minute)


# -- parse_weekly ---------------------------------------------------------------------


def test_parse_weekly_reads_day_ranges_and_single_days() -> None:
    hours = parse_weekly("mon-fri 09:00-19:00, sat 10:00-13:00")

    assert hours == {
        "mon": [["09:00", "19:00"]],
        "tue": [["09:00", "19:00"]],
        "wed": [["09:00", "19:00"]],
        "thu": [["09:00", "19:00"]],
        "fri": [["09:00", "19:00"]],
        "sat": [["10:00", "13:00"]],
        "sun": [],
    }


def test_parse_weekly_keeps_several_periods_a_day_and_late_ones() -> None:
    hours = parse_weekly("mon 09:00-12:00, mon 14:00-19:00,  fri  20:00-02:00 ,")

    assert hours["mon"] == [["09:00", "12:00"], ["14:00", "19:00"]]
    assert hours["fri"] == [["20:00", "02:00"]]  # runs past midnight
    assert check_weekly(hours) == hours


def test_parse_weekly_of_nothing_is_closed_every_day() -> None:
    assert parse_weekly("") == {
        day: [] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    }


@pytest.mark.parametrize(
    "text",
    [
        "monday 09:00-19:00",  # not a day name we use
        "Mon 09:00-19:00",
        "mon-fri",  # no span
        "mon-fri 09:00 - 19:00",
        "mon 09:00-12:00-14:00",
        "mon 9:00-19:00",  # HH:MM only
        "mon 09:00-24:00",
        "mon 09h00-19h00",
        "fri-mon 09:00-19:00",  # a range cannot run backwards
        "mon-tue-wed 09:00-19:00",
        "-fri 09:00-19:00",
        "mon- 09:00-19:00",  # a dangling range is an error, not "mon"
    ],
)
def test_parse_weekly_rejects_malformed_text(text: str) -> None:
    with pytest.raises(HoursError):
        parse_weekly(text)


def test_parse_weekly_error_names_the_faulty_part() -> None:
    with pytest.raises(HoursError) as backwards:
        parse_weekly("mon-fri 09:00-19:00, sun-sat 10:00-12:00")
    assert backwards.value.code == "days_backwards"
    assert backwards.value.params == {"part": "sun-sat 10:00-12:00"}
    with pytest.raises(HoursError) as bad_time:
        parse_weekly("mon 09:00-25:00")
    assert (bad_time.value.code, bad_time.value.params) == ("bad_time", {"text": "25:00"})
    assert str(bad_time.value) == "« 25:00 » n'est pas une heure de la forme HH:MM."


# -- check_weekly ---------------------------------------------------------------------


def test_check_weekly_fills_missing_days_and_stores_lists() -> None:
    checked = check_weekly({"mon": [("09:00", "19:00")], "sat": []})

    assert checked["mon"] == [["09:00", "19:00"]]
    assert checked["sat"] == [] and checked["sun"] == []
    assert list(checked) == ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


@pytest.mark.parametrize(
    ("hours", "code", "named"),
    [
        ({"lun": [["09:00", "19:00"]]}, "unknown_weekday", {"day": "lun"}),
        ({"mon": "09:00-19:00"}, "not_periods", {"day": "mon"}),
        ({"tue": [["09:00"]]}, "not_a_pair", {"day": "tue"}),
        ({"wed": [["09:00", "12:00", "19:00"]]}, "not_a_pair", {"day": "wed"}),
        ({"thu": ["09:00", "19:00"]}, "not_a_pair", {"day": "thu"}),
        ({"fri": [["9:00", "19:00"]]}, "bad_time", {"text": "9:00"}),
        ({"sat": [["09:00", "24:00"]]}, "bad_time", {"text": "24:00"}),
        ({"sun": [[900, 1900]]}, "bad_time", {"text": "900"}),
    ],
)
def test_check_weekly_errors_say_what_is_wrong(
    hours: dict[str, Any], code: str, named: dict[str, str]
) -> None:
    with pytest.raises(HoursError) as refused:
        check_weekly(hours)
    assert refused.value.code == code
    assert named.items() <= refused.value.params.items()
