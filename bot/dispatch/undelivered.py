"""Ticket events not delivered yet, for an operator: list them, send one again, or drop one so that its
ticket's later events go out (``kefu dispatch``), and count them for Prometheus.

A failed event holds its ticket's later events (``bot/dispatch/delivery.py``): whether the dispatch
system may go on without it is for a person to decide, as skipping it means the receiver never sees
that change (the next event still carries the whole ticket). A dropped event is never sent again:
its ticket's later events may have gone out since, and it would arrive out of order.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Iterator

import sqlalchemy as sa

from bot.db.repository import Repository
from bot.db.schema import outbox
from bot.dispatch.delivery import TICKET_EVENTS, UNDELIVERED
from bot.dispatch.events import CHANNEL
from bot.outbound.outbox_rows import OutboxRowError, change, row_number

logger = logging.getLogger(__name__)

RESENDABLE = ("failed", "pending")  # pending: try now instead of at its next retry time
DROPPABLE = ("failed", "pending")


@dataclass(frozen=True)
class UndeliveredEvent:
    id: int
    ticket_id: str
    type: str
    state: str                # pending, sending, failed, or held: pending behind a failed event of its ticket
    attempts: int
    last_error: str
    queued_at: dt.datetime    # naive UTC: when the change happened (the event's occurred_at)


def _queued_at(payload: dict) -> dt.datetime:
    occurred = ((payload.get("event") or {}).get("occurred_at") or "").rstrip("Z")
    return dt.datetime.fromisoformat(occurred) if occurred else dt.datetime.utcnow()


def undelivered(repository: Repository, *, failed_only: bool = False, limit: int = 1000) -> list[UndeliveredEvent]:
    """Oldest first: every ticket event waiting, being sent or given up."""
    query = (sa.select(outbox).where(outbox.c.channel == CHANNEL, outbox.c.status.in_(UNDELIVERED))
             .order_by(outbox.c.id).limit(limit))
    with repository.engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(query).mappings()]
    blocked: set[str] = set()
    events = []
    for row in rows:
        payload = dict(row["payload"] or {})
        state = "held" if row["status"] == "pending" and row["recipient"] in blocked else row["status"]
        if row["status"] == "failed":
            blocked.add(row["recipient"])
        events.append(UndeliveredEvent(row["id"], row["recipient"], row["kind"], state,
                                       int(payload.get("attempts") or 0), payload.get("last_error") or "",
                                       _queued_at(payload)))
    return [e for e in events if e.state == "failed"] if failed_only else events


def counts(repository: Repository) -> dict[str, int]:
    """``pending`` (waiting or being sent) and ``failed`` (given up, holding their tickets), 0 included."""
    query = (sa.select(outbox.c.status, sa.func.count()).where(outbox.c.channel == CHANNEL,
                                                              outbox.c.status.in_(UNDELIVERED))
             .group_by(outbox.c.status))
    found = {"pending": 0, "failed": 0}
    with repository.engine.connect() as conn:
        for status, count in conn.execute(query):
            found["failed" if status == "failed" else "pending"] += int(count)
    return found


def states(repository: Repository) -> dict[str, int]:
    """Every undelivered event by state as the list shows it (``held``: pending behind a failed event of
    its ticket), however many the list shows."""
    earlier = outbox.alias("earlier")
    behind_a_failed = sa.exists().where(earlier.c.channel == CHANNEL, earlier.c.recipient == outbox.c.recipient,
                                        earlier.c.status == "failed", earlier.c.id < outbox.c.id)
    state = sa.case((sa.and_(outbox.c.status == "pending", behind_a_failed), "held"), else_=outbox.c.status)
    query = (sa.select(state, sa.func.count()).where(outbox.c.channel == CHANNEL, outbox.c.status.in_(UNDELIVERED))
             .group_by(state))
    found = dict.fromkeys(("failed", "held", "pending", "sending"), 0)
    with repository.engine.connect() as conn:
        found.update({name: int(count) for name, count in conn.execute(query)})
    return found


def event_number(text: str) -> int:
    """``42`` or ``outbox-42`` (the ``event_id`` the dispatch system saw)."""
    return row_number(text, "ticket event", "kefu dispatch events")


def _change(repository: Repository, event_id: int, allowed: tuple[str, ...], verb: str, to: str, changes: dict) -> dict:
    return change(repository, TICKET_EVENTS, event_id, allowed=allowed, to=to, changes=changes, noun="ticket event",
                  why_not=WHY_NOT, verb=verb, listed_by="kefu dispatch events")


WHY_NOT = {
    "sent": "the dispatch system has it",
    "sending": "a worker is sending it now",
    "dropped": "its ticket's later events may have gone out since, and it would arrive out of order "
               "(the latest event carries the whole ticket)",
}


def resend(repository: Repository, event_id: int, now: dt.datetime | None = None) -> None:
    """Back to pending with its attempts and give-up counts reset: tried on the next pass."""
    now = now or dt.datetime.utcnow()
    row = _change(repository, event_id, RESENDABLE, "resent", "pending", {"resent_at": now.isoformat()})
    logger.info("dispatch.event.resent id=%s ticket=%s was=%s", event_id, row["recipient"], row["status"])


def resend_all_failed(repository: Repository, now: dt.datetime | None = None) -> Iterator[int]:
    """Every given-up event back to pending (after fixing a wrong URL or secret that failed them all), each in
    its own transaction: yields each one's id as it is resent, so a database failing partway still lets the
    caller say which ones were."""
    for event in undelivered(repository, failed_only=True, limit=100_000):
        try:
            resend(repository, event.id, now)
        except OutboxRowError:  # resent or dropped by someone else meanwhile
            continue
        yield event.id


def drop(repository: Repository, event_id: int, now: dt.datetime | None = None) -> None:
    """Never send it; its ticket's later events go out on the next pass."""
    now = now or dt.datetime.utcnow()
    row = _change(repository, event_id, DROPPABLE, "dropped", "dropped", {"dropped_at": now.isoformat()})
    logger.warning("dispatch.event.dropped id=%s ticket=%s type=%s was=%s", event_id, row["recipient"],
                   row["kind"], row["status"])
