"""Everything the report shows, computed once from the record and the tickets."""
from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from bot.analytics.config import KpiConfig
from bot.analytics.contacts import Contact, split_contacts
from bot.analytics.kpis import (FCR_WINDOWS_H, Figures, SelfHelpFigures, figures, grouped, local_day, local_hour,
                                repeat_customers, repeat_flags, selfhelp_success)
from bot.analytics.report.period import Period
from bot.analytics.report.tickets import TicketLoop, ticket_loop
from bot.outcomes.store import read_events


@dataclass(frozen=True)
class ReportData:
    period: Period
    config: KpiConfig
    overall: Figures
    by_channel: dict[str, Figures]
    by_skill: dict[str, Figures]
    by_intent: dict[str, Figures]
    by_hour: dict[str, Figures]
    by_day: dict[str, Figures]
    volume: dict[tuple[str, str], int]  # (hour, channel) -> contacts
    top_intents: list[tuple[str, int]]  # every intent seen, by messages
    selfhelp: list[SelfHelpFigures]
    repeaters: list[tuple[str, int, str]]
    tickets: TicketLoop


def build_report(engine: Engine, period: Period, config: KpiConfig, now: dt.datetime | None = None) -> ReportData:
    start, end = period.start_utc, period.end_utc
    lookahead = dt.timedelta(hours=max(FCR_WINDOWS_H))
    contacts = split_contacts(read_events(engine, start - dt.timedelta(hours=1), end + lookahead))
    inside = [c for c in contacts if start <= c.started_at < end]
    later = [c for c in contacts if c.started_at >= end]
    sl = config.sl_seconds
    hour = local_hour(config.timezone)

    def by(key) -> dict[str, Figures]:
        return grouped(inside, key, sl_seconds=sl, later=later)

    return ReportData(
        period=period, config=config,
        overall=figures(inside, sl_seconds=sl, repeats=repeat_flags(inside, later)),
        by_channel=by(lambda c: c.channel or "-"), by_skill=by(lambda c: c.skill or "-"),
        by_intent=by(lambda c: c.intent or "-"), by_hour=by(hour), by_day=by(local_day(config.timezone)),
        volume=dict(Counter((hour(c), c.channel or "-") for c in inside)),
        top_intents=_intents(inside), selfhelp=selfhelp_success(inside),
        repeaters=repeat_customers(inside, later),
        tickets=ticket_loop(engine, start, end, overdue_hours=config.ticket_overdue_hours, now=now),
    )


def _intents(contacts: list[Contact]) -> list[tuple[str, int]]:
    seen = Counter((e.get("data") or {}).get("intent") for c in contacts for e in c.events if e["kind"] == "intent_seen")
    seen.pop(None, None)
    return seen.most_common(15)
