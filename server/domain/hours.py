"""Opening hours: when a site is open and when an open visit ends by itself.

Weekly hours map a weekday (`mon` .. `sun`) to periods `["HH:MM", "HH:MM"]` in the site's
time zone; a period whose end is not after its start runs past midnight (an evening
event until 01:00). An exception date replaces that day's periods (`[]`: closed).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from server.domain.refusals import N_, Refusal

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")

Period = tuple[datetime, datetime]


class HoursError(Refusal):
    """Opening hours that cannot be understood; the message says which part."""

    MESSAGES = {
        "bad_time": N_("« %(text)s » n'est pas une heure de la forme HH:MM."),
        "not_periods": N_("%(day)s : une liste de paires [ouverture, fermeture] est attendue."),
        "not_a_pair": N_('%(day)s : chaque période est une paire ["HH:MM", "HH:MM"].'),
        "unknown_weekday": N_("Jour inconnu « %(day)s » (les jours : %(days)s)."),
        "not_a_range": N_("« %(part)s » : écrivez par exemple « mon-fri 09:00-19:00 »."),
        "bad_days": N_("« %(part)s » : les jours sont %(days)s."),
        "days_backwards": N_("« %(part)s » : la suite de jours va à l'envers."),
    }


def parse_hhmm(text: str) -> time:
    match = _HHMM.match(text)
    if not match:
        raise HoursError("bad_time", text=text)
    return time(int(match[1]), int(match[2]))


def check_periods(periods: Any, where: str) -> list[list[str]]:
    """Validate one day's periods and return them in their stored form."""
    if not isinstance(periods, list):
        raise HoursError("not_periods", day=where)
    checked = []
    for period in periods:
        if not (isinstance(period, list | tuple) and len(period) == 2):
            raise HoursError("not_a_pair", day=where)
        opens, closes = (str(part) for part in period)
        parse_hhmm(opens)
        parse_hhmm(closes)
        checked.append([opens, closes])
    return checked


def check_weekly(hours: Mapping[str, Any]) -> dict[str, list[list[str]]]:
    unknown = set(hours) - set(WEEKDAYS)
    if unknown:
        raise HoursError("unknown_weekday", day=sorted(unknown)[0], days=", ".join(WEEKDAYS))
    return {day: check_periods(hours.get(day, []), day) for day in WEEKDAYS}


def parse_weekly(text: str) -> dict[str, list[list[str]]]:
    """Read the CLI form, e.g. `mon-fri 09:00-19:00, sat 10:00-13:00`."""
    hours: dict[str, list[list[str]]] = {day: [] for day in WEEKDAYS}
    for part in filter(None, (chunk.strip() for chunk in text.split(","))):
        try:
            days, span = part.split()
            opens, closes = span.split("-")
        except ValueError:
            raise HoursError("not_a_range", part=part) from None
        first, dash, last = days.partition("-")
        if first not in WEEKDAYS or (dash and last not in WEEKDAYS):
            raise HoursError("bad_days", part=part, days=", ".join(WEEKDAYS))
        start, end = WEEKDAYS.index(first), WEEKDAYS.index(last or first)
        if end < start:
            raise HoursError("days_backwards", part=part)
        parse_hhmm(opens)
        parse_hhmm(closes)
        for day in WEEKDAYS[start : end + 1]:
            hours[day].append([opens, closes])
    return hours


class OpeningHours:
    """A site's hours in its time zone, with the exception dates that override them."""

    def __init__(
        self,
        timezone: str,
        weekly: Mapping[str, Sequence[Sequence[str]]],
        exceptions: Mapping[date, Sequence[Sequence[str]]] | None = None,
    ) -> None:
        self.zone = ZoneInfo(timezone)
        self.weekly = weekly
        self.exceptions = dict(exceptions or {})

    def periods_on(self, day: date) -> list[Period]:
        """The periods that open on `day`, as aware datetimes in the site's zone."""
        spec = self.exceptions.get(day, self.weekly.get(WEEKDAYS[day.weekday()], []))
        periods = []
        for opens_text, closes_text in spec:
            opens = datetime.combine(day, parse_hhmm(opens_text), self.zone)
            closes = datetime.combine(day, parse_hhmm(closes_text), self.zone)
            if closes <= opens:
                closes = datetime.combine(day + timedelta(days=1), closes.time(), self.zone)
            periods.append((opens, closes))
        return sorted(periods)

    def local_date(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()

    def is_open(self, moment: datetime) -> bool:
        today = self.local_date(moment)
        candidates = self.periods_on(today - timedelta(days=1)) + self.periods_on(today)
        return any(opens <= moment < closes for opens, closes in candidates)

    def closing_after(self, moment: datetime) -> datetime:
        """When a visit that began at `moment` ends if nobody taps out.

        The end of the period under way or, before opening, of the day's next period;
        after the day's last period (or on a closed day), local midnight.
        """
        period = self._closing_period(moment)
        if period is not None:
            return period[1]
        return datetime.combine(self.local_date(moment) + timedelta(days=1), time(0), self.zone)

    def leaving_until(self, moment: datetime, grace: timedelta) -> datetime:
        """Until when a tap asking to leave still ends, at its own time, a visit that
        began at `moment` and that closing time ended (someone who stayed a little after
        closing and taps out on the way): the local midnight after the day the closing
        period opened, plus `grace`, or the site's next opening if that comes first.

        A visit ended at midnight (begun after the day's last period) or by a period that
        opened the day before (begun after midnight, at an evening event) gets no such
        time: the value returned is then not after its automatic end.

            08:00 ─── 12:00 ┄┄ 12:30 ·········· 14:00 ─── 19:00 ┄┄ 19:30 ·········· 00:30
                    closes   auto end  leaving   opens   closes   auto end  leaving
        """
        period = self._closing_period(moment)
        if period is None:
            return self.closing_after(moment) + grace
        opens, closes = period
        midnight = datetime.combine(opens.date() + timedelta(days=1), time(0), self.zone)
        day = closes.date()
        reopenings = [
            start
            for start, _end in self.periods_on(day) + self.periods_on(day + timedelta(days=1))
            if start >= closes
        ]
        return min([midnight + grace, *reopenings])

    def _closing_period(self, moment: datetime) -> Period | None:
        """The period whose close ends a visit begun at `moment` (see `closing_after`)."""
        today = self.local_date(moment)
        candidates = self.periods_on(today - timedelta(days=1)) + self.periods_on(today)
        ending = sorted((period for period in candidates if period[1] > moment), key=lambda p: p[1])
        return ending[0] if ending else None
