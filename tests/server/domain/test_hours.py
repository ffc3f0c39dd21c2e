"""Opening hours: the CLI form, validation, periods past midnight, DST, closing time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from server.domain.hours import HoursError, OpeningHours, check_weekly, parse_weekly

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


# -- periods --------------------------------------------------------------------------


def test_a_period_whose_end_is_not_after_its_start_runs_past_midnight() -> None:
    hours = OpeningHours("Europe/Paris", {"fri": [["20:00", "02:00"]]})

    [(opens, closes)] = hours.periods_on(date(2026, 11, 27))

    assert (opens, closes) == (nov(27, 20), nov(28, 2))
    assert hours.is_open(nov(28, 1, 59)) and not hours.is_open(nov(28, 2))
    assert hours.closing_after(nov(28, 1)) == nov(28, 2)


def test_a_period_from_a_time_to_itself_lasts_a_whole_day() -> None:
    hours = OpeningHours("Europe/Paris", {"sat": [["10:00", "10:00"]]})

    assert hours.periods_on(date(2026, 11, 28)) == [(nov(28, 10), nov(29, 10))]


def test_periods_come_sorted_and_exceptions_replace_the_weekday() -> None:
    hours = OpeningHours(
        "Europe/Paris",
        {"tue": [["14:00", "19:00"], ["09:00", "12:00"]]},
        {date(2026, 12, 1): [["18:00", "01:00"]]},
    )

    assert hours.periods_on(date(2026, 11, 24)) == [
        (nov(24, 9), nov(24, 12)),
        (nov(24, 14), nov(24, 19)),
    ]
    # Tuesday 1 December is an evening event instead of the usual hours.
    assert hours.periods_on(date(2026, 12, 1)) == [(paris(2026, 12, 1, 18), paris(2026, 12, 2, 1))]
    assert hours.periods_on(date(2026, 11, 25)) == []  # Wednesday: closed every week


# -- daylight saving time in Europe/Paris ---------------------------------------------


def test_spring_forward_day_keeps_wall_hours_and_is_an_hour_shorter() -> None:
    daily = {day: [["09:00", "19:00"]] for day in ("sat", "sun")}
    late = {"sat": [["22:00", "04:00"]]}
    hours, night = OpeningHours("Europe/Paris", daily), OpeningHours("Europe/Paris", late)

    [(opens, closes)] = hours.periods_on(date(2026, 3, 29))  # clocks go 02:00 -> 03:00
    [(evening, morning)] = night.periods_on(date(2026, 3, 28))

    assert opens.astimezone(UTC) == datetime(2026, 3, 29, 7, 0, tzinfo=UTC)  # CEST, +02:00
    assert closes.astimezone(UTC) == datetime(2026, 3, 29, 17, 0, tzinfo=UTC)
    assert hours.periods_on(date(2026, 3, 28))[0][0].astimezone(UTC).hour == 8  # CET, +01:00
    # Subtracting in UTC: two datetimes in the same zone subtract as wall times.
    assert morning.astimezone(UTC) - evening.astimezone(UTC) == timedelta(hours=5)
    assert morning.astimezone(UTC) == datetime(2026, 3, 29, 2, 0, tzinfo=UTC)
    assert night.is_open(datetime(2026, 3, 29, 1, 30, tzinfo=UTC))  # 03:30 CEST
    assert night.closing_after(datetime(2026, 3, 28, 23, 0, tzinfo=UTC)) == morning


def test_fall_back_day_ends_a_late_period_and_midnight_by_the_real_clock() -> None:
    hours = OpeningHours("Europe/Paris", {"sat": [["22:00", "04:00"]], "sun": [["09:00", "19:00"]]})

    [(evening, morning)] = hours.periods_on(date(2026, 10, 24))  # clocks go 03:00 -> 02:00
    after_closing = hours.closing_after(datetime(2026, 10, 25, 19, 0, tzinfo=UTC))  # 20:00 CET

    assert morning.astimezone(UTC) - evening.astimezone(UTC) == timedelta(hours=7)
    assert morning.astimezone(UTC) == datetime(2026, 10, 25, 3, 0, tzinfo=UTC)
    assert not hours.is_open(datetime(2026, 10, 25, 3, 0, tzinfo=UTC))
    assert after_closing == datetime(2026, 10, 25, 23, 0, tzinfo=UTC)  # Monday 00:00 CET


# -- closing_after --------------------------------------------------------------------


def split_day_hours() -> OpeningHours:
    """Mon-fri 9-12 and 14-19; Monday night an event to 01:00; Thursday 26 Nov closed."""
    weekly = {day: [["09:00", "12:00"], ["14:00", "19:00"]] for day in WEEKDAYS_9_TO_19}
    weekly["mon"] = [["09:00", "12:00"], ["14:00", "01:00"]]
    return OpeningHours("Europe/Paris", weekly, {date(2026, 11, 26): []})


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        pytest.param(nov(24, 10), nov(24, 12), id="during-a-period"),
        pytest.param(nov(24, 7, 30), nov(24, 12), id="before-opening"),
        pytest.param(nov(24, 13), nov(24, 19), id="between-periods"),
        pytest.param(nov(24, 18, 59), nov(24, 19), id="just-before-closing"),
        pytest.param(nov(24, 19), nov(25, 0), id="at-closing"),
        pytest.param(nov(24, 21), nov(25, 0), id="after-closing"),
        pytest.param(nov(23, 23), nov(24, 1), id="evening-event"),
        pytest.param(nov(24, 0, 30), nov(24, 1), id="past-midnight-in-yesterdays-event"),
        pytest.param(nov(24, 1), nov(24, 12), id="after-yesterdays-event-before-opening"),
        pytest.param(nov(26, 10), nov(27, 0), id="exception-closed-day"),
        pytest.param(nov(28, 10), nov(29, 0), id="weekend"),
    ],
)
def test_closing_after(moment: datetime, expected: datetime) -> None:
    assert split_day_hours().closing_after(moment) == expected


def test_closing_after_is_local_midnight_in_the_sites_zone() -> None:
    hours = OpeningHours("America/Montreal", {})

    assert hours.closing_after(datetime(2026, 11, 24, 3, 0, tzinfo=UTC)) == datetime(
        2026, 11, 24, 5, 0, tzinfo=UTC
    )  # still the 23rd in Montreal (UTC-5): its midnight


# -- is_open --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (nov(24, 8, 59), False),
        (nov(24, 9), True),  # opening is inclusive
        (nov(24, 11, 59), True),
        (nov(24, 12), False),  # closing is exclusive
        (nov(24, 13), False),
        (nov(24, 18, 59), True),
        (nov(24, 19), False),
        (nov(23, 23, 30), True),  # Monday's event
        (nov(24, 0, 59), True),  # ... past midnight
        (nov(24, 1), False),
        (nov(26, 10), False),  # exception: closed
        (nov(28, 10), False),  # Saturday
    ],
)
def test_is_open(moment: datetime, expected: bool) -> None:
    assert split_day_hours().is_open(moment) is expected
