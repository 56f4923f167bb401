"""The tickets' closed loop: registered → acted → customer told → follow-up done.

Read from what the ticket lifecycle records (``tickets`` and ``ticket_history``): ``open`` is
registered, ``assigned`` is acted on, ``resolved`` is when the customer is told the result (the
lifecycle has no separate "told" step), ``follow_up_done`` closes the loop.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.db.schema import ticket_history, tickets

STAGES = ("registered", "acted", "told", "follow_up_done")
STAGE_OF_STATUS = {"open": "registered", "assigned": "acted", "resolved": "told", "follow_up_done": "follow_up_done"}


@dataclass(frozen=True)
class TicketLoop:
    reached: dict  # stage -> tickets that reached it (of those registered in the period)
    overdue: list  # (ticket id, kind, created at, stage, age in hours) not closed in time


def ticket_loop(engine: Engine, start: dt.datetime, end: dt.datetime, *, overdue_hours: float,
                now: dt.datetime | None = None) -> TicketLoop:
    now = now or dt.datetime.utcnow()
    with engine.connect() as conn:
        rows = conn.execute(sa.select(tickets.c.ticket_id, tickets.c.kind, tickets.c.status, tickets.c.created_at)
                            .where(tickets.c.created_at >= start, tickets.c.created_at < end)).mappings().all()
        history: dict[str, set] = {}
        ids = [r["ticket_id"] for r in rows]
        if ids:
            for ticket_id, status in conn.execute(sa.select(ticket_history.c.ticket_id, ticket_history.c.to_status)
                                                  .where(ticket_history.c.ticket_id.in_(ids))):
                history.setdefault(ticket_id, set()).add(status)
    reached = {stage: 0 for stage in STAGES}
    overdue = []
    for row in rows:
        statuses = history.get(row["ticket_id"], set()) | {row["status"]}
        furthest = max(STAGES.index(STAGE_OF_STATUS.get(s, "registered")) for s in statuses)
        for index in range(furthest + 1):
            reached[STAGES[index]] += 1
        current = STAGE_OF_STATUS.get(row["status"], "registered")
        age_h = (now - row["created_at"]).total_seconds() / 3600
        if current != "follow_up_done" and age_h > overdue_hours:
            overdue.append((row["ticket_id"], row["kind"], row["created_at"], current, round(age_h, 1)))
    return TicketLoop(reached, sorted(overdue, key=lambda r: -r[4]))
