"""Report periods: whole local days, given as YYYY-MM-DD, ``today`` or ``yesterday``."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo


class PeriodError(ValueError):
    """The dates do not make a period; the message says why."""


@dataclass(frozen=True)
class Period:
    first: dt.date
    last: dt.date
    timezone: str

    @property
    def start_utc(self) -> dt.datetime:
        return _utc(self.first, self.timezone)

    @property
    def end_utc(self) -> dt.datetime:
        """Exclusive: midnight after the last day."""
        return _utc(self.last + dt.timedelta(days=1), self.timezone)


def _utc(day: dt.date, zone: str) -> dt.datetime:
    local = dt.datetime.combine(day, dt.time(), tzinfo=ZoneInfo(zone))
    return local.astimezone(dt.timezone.utc).replace(tzinfo=None)


def parse_day(text: str, zone: str, now: dt.datetime | None = None) -> dt.date:
    today = (now or dt.datetime.now(dt.timezone.utc)).astimezone(ZoneInfo(zone)).date()
    word = text.strip().lower()
    if word == "today":
        return today
    if word == "yesterday":
        return today - dt.timedelta(days=1)
    try:
        return dt.date.fromisoformat(word)
    except ValueError:
        raise PeriodError(f"{text!r} is not a date: use YYYY-MM-DD, 'today' or 'yesterday'") from None


def period(first: str, last: str, zone: str, now: dt.datetime | None = None) -> Period:
    start, end = parse_day(first, zone, now), parse_day(last, zone, now)
    if end < start:
        raise PeriodError(f"--to {end} is before --from {start}")
    return Period(start, end, zone)
