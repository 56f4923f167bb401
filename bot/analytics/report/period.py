"""Report periods: whole local days, given as YYYY-MM-DD, ``today`` or ``yesterday``, optionally only
some local hours of each (``--hours 19-21``, parsed here once for ``kefu report`` and ``kefu compare``)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Iterable, TypeVar
from zoneinfo import ZoneInfo

Started = TypeVar("Started")  # anything with a ``started_at`` (naive UTC): a contact


class PeriodError(ValueError):
    """The dates do not make a period; the message says why."""


@dataclass(frozen=True)
class Period:
    first: dt.date
    last: dt.date
    timezone: str
    hours: range | None = None  # only these local hours of each day (``--hours``); None: whole days

    @property
    def hours_label(self) -> str:
        """``19:00-21:00``, or "" for whole days."""
        return f"{self.hours.start:02d}:00-{self.hours.stop:02d}:00" if self.hours is not None else ""

    def includes(self, moment: dt.datetime) -> bool:
        """Whether ``moment`` (naive UTC) is in the period: its days and, if given, its hours."""
        if not self.start_utc <= moment < self.end_utc:
            return False
        if self.hours is None:
            return True
        return moment.replace(tzinfo=dt.timezone.utc).astimezone(ZoneInfo(self.timezone)).hour in self.hours

    def split(self, contacts: Iterable[Started]) -> tuple[list[Started], list[Started]]:
        """(the contacts that started in the period, those after its start that did not): the second
        are looked at only as repeats (FCR), so a caller of 19:30 who calls again at 22:00 is not
        counted resolved at first contact by a report of 19-21."""
        inside, later = [], []
        for contact in contacts:
            if self.includes(contact.started_at):
                inside.append(contact)
            elif contact.started_at >= self.start_utc:
                later.append(contact)
        return inside, later

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


def parse_hours(text: str | None) -> range | None:
    """``19-21`` -> hours 19 and 20 (to 21:00); ``20`` -> hour 20 only; None -> whole days."""
    if text is None:
        return None
    first, _, last = text.partition("-")
    try:
        start = int(first)
        end = int(last) if last else start + 1
    except ValueError:
        raise PeriodError(f"--hours {text!r}: use FROM-TO in whole local hours, e.g. 19-21") from None
    if not 0 <= start < end <= 24:
        raise PeriodError(f"--hours {text!r}: the hours must run forwards within one day (0-24)")
    return range(start, end)


def period(first: str, last: str, zone: str, now: dt.datetime | None = None, hours: str | None = None) -> Period:
    start, end = parse_day(first, zone, now), parse_day(last, zone, now)
    if end < start:
        raise PeriodError(f"--to {end} is before --from {start}")
    return Period(start, end, zone, parse_hours(hours))
