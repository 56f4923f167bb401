"""The tickets' closed loop: registered → acted → customer told → follow-up done, read from the ledger.

The user-experience ledger (``bot.ledger``) is the one reading of a ticket's steps: a ticket
counts as "told" only once its ``customer_told`` step is closed (a resolved ticket whose customer
never heard the result is not), and overdue means past the ledger's due time for its next step
(``content/ledger.yml``, per ticket type). The report adds the ledger's monthly summary of every
month the period touches.

The loop is shown per ticket kind: every chat an agent closes leaves a ``handoff`` item (its
follow-up), and in one total those outnumbered the repair tickets, none of which had been acted on,
while the page read "11 registered, 7 handled" (found by a tester in the head of operations' role).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Callable
from zoneinfo import ZoneInfo

from bot.ledger.ledger import LedgerItem, MonthlySummary, monthly_summary
from bot.ledger.rules import LedgerRules

STAGES = ("registered", "acted", "told", "follow_up_done")
STAGE_OF_STEP = {"registered": "registered", "acted_on": "acted", "customer_told": "told",
                 "follow_up_done": "follow_up_done"}


@dataclass(frozen=True)
class TicketLoop:
    reached: dict  # stage -> tickets registered in the period whose ledger shows that step done
    by_kind: dict  # ticket kind -> the same, for that kind's tickets only
    overdue: list  # (ticket id, kind, registered at, stage now, age in hours) past their next step's due time


def ticket_loop(items: list[LedgerItem], start: dt.datetime, end: dt.datetime, now: dt.datetime,
                within: Callable[[dt.datetime], bool] | None = None) -> TicketLoop:
    """The tickets registered from ``start`` to ``end`` (and ``within`` the report's hours, if given)."""
    mine = [i for i in items if start <= i.registered_at < end and (within is None or within(i.registered_at))]
    overdue = [(i.ticket_id, i.kind, i.registered_at, STAGE_OF_STEP[i.step],
                round((now - i.registered_at).total_seconds() / 3600, 1)) for i in mine if i.overdue]
    kinds = sorted({i.kind for i in mine})
    return TicketLoop(_reached(mine), {kind: _reached([i for i in mine if i.kind == kind]) for kind in kinds},
                      sorted(overdue, key=lambda r: -r[4]))


def _reached(items: list[LedgerItem]) -> dict:
    reached = {stage: 0 for stage in STAGES}
    reached["registered"] = len(items)
    for item in items:
        for done in item.steps:
            if done.step != "registered":
                reached[STAGE_OF_STEP[done.step]] += 1
    return reached


def months_of(first: dt.date, last: dt.date) -> list[str]:
    """Every month (YYYY-MM) from ``first`` to ``last``, both included."""
    months, year, month = [], first.year, first.month
    while (year, month) <= (last.year, last.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def ledger_months(items: list[LedgerItem], rules: LedgerRules, first: dt.date, last: dt.date,
                  zone: ZoneInfo) -> list[MonthlySummary]:
    """The ledger's summary of each month (of the centre's calendar, ``zone``) from ``first`` to ``last``."""
    return [monthly_summary(items, rules, month, zone) for month in months_of(first, last)]
