"""Where the contact planner got to in the ticket history, kept in the database for every worker.

Every ticket change — creation included — appends a ``ticket_history`` row, so the rows after the
mark name every ticket whose contacts may have changed. Rows are re-read from a little before the
mark (``OVERLAP_ROWS``): on PostgreSQL a row may commit after one with a higher id, and planning a
ticket twice adds nothing (contacts are deduplicated). The mark also carries a fingerprint of the
rules; when an editor changes them, the next pass reads every ticket of the look-back again, as a
new rule must apply to the tickets it already covers.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from bot.db.repository import Repository
from bot.db.schema import contact_planner_marks, ticket_history

MARK_NAME = "tickets"
OVERLAP_ROWS = 200


@dataclass(frozen=True)
class HistoryState:
    """The newest history row, and how many rows the overlap window before it holds."""
    top: int
    window_rows: int


@dataclass(frozen=True)
class PlannerMark:
    state: HistoryState
    fingerprint: str


def rules_fingerprint(*rules) -> str:
    """A digest of everything planning depends on (the rules' dataclass reprs are stable)."""
    return hashlib.sha256(repr(rules).encode()).hexdigest()[:64]


def history_state(repository: Repository) -> HistoryState:
    with repository.engine.connect() as conn:
        top = conn.execute(sa.select(sa.func.max(ticket_history.c.id))).scalar() or 0
        rows = conn.execute(sa.select(sa.func.count()).select_from(ticket_history).where(
            ticket_history.c.id > top - OVERLAP_ROWS)).scalar()
    return HistoryState(top, rows)


def read_mark(repository: Repository) -> PlannerMark | None:
    query = sa.select(contact_planner_marks).where(contact_planner_marks.c.name == MARK_NAME)
    with repository.engine.connect() as conn:
        row = conn.execute(query).mappings().first()
    return PlannerMark(HistoryState(row["history_id"], row["window_rows"]), row["fingerprint"]) if row else None


def changed_tickets(repository: Repository, mark: PlannerMark, up_to: int) -> list[str]:
    """Ids of the tickets with a history row after the mark (with the overlap), up to ``up_to``."""
    query = sa.select(ticket_history.c.ticket_id).distinct().where(
        ticket_history.c.id > mark.state.top - OVERLAP_ROWS, ticket_history.c.id <= up_to)
    with repository.engine.connect() as conn:
        return [r[0] for r in conn.execute(query)]


def advance_mark(repository: Repository, state: HistoryState, fingerprint: str) -> None:
    """Move the mark forward (never back: a slower worker's older pass does not undo a newer one)."""
    now = dt.datetime.utcnow()
    table = contact_planner_marks
    values = {"history_id": state.top, "window_rows": state.window_rows, "fingerprint": fingerprint, "at": now}
    with repository.engine.begin() as conn:
        moved = conn.execute(table.update().where(
            table.c.name == MARK_NAME,
            sa.or_(table.c.history_id < state.top, table.c.fingerprint != fingerprint,
                   sa.and_(table.c.history_id == state.top, table.c.window_rows < state.window_rows)),
        ).values(**values)).rowcount
    if moved:
        return
    try:
        with repository.engine.begin() as conn:
            conn.execute(table.insert().values(name=MARK_NAME, **values))
    except IntegrityError:
        pass  # the mark exists and is already at or past ``history_id``
