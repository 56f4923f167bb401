"""Reading and writing the ``conversation_events`` table (synchronous SQLAlchemy Core).

Writes are idempotent by ``event_id``, so the recorder may retry a batch whose commit it could
not confirm. The table is the migrations' (bot/db/migrate.py; the baseline adds the ``event_id`` and
``customer`` columns a database made before the record lacks): a database never upgraded gets
``SchemaNotReady``, which the recorder treats like a database that is down (it keeps the events).
"""
from __future__ import annotations

import datetime as dt
from typing import Collection, Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.db.repository import idle_allowed
from bot.db.schema import conversation_events
from bot.db.schema_ready import require_tables
from bot.outcomes.events import OutcomeEvent


def write_events(engine: Engine, events: Iterable[OutcomeEvent]) -> int:
    """Insert the events not already stored; returns how many were new."""
    rows = [event.row() for event in events]
    if not rows:
        return 0
    require_tables(engine, conversation_events)
    with engine.begin() as conn:
        known = set(conn.execute(sa.select(conversation_events.c.event_id).where(
            conversation_events.c.event_id.in_([r["event_id"] for r in rows]))).scalars())
        new = [r for r in rows if r["event_id"] not in known]
        if new:
            conn.execute(conversation_events.insert(), new)
    return len(new)


def read_events(engine: Engine, start: dt.datetime | None = None, end: dt.datetime | None = None) -> list[dict]:
    """Events with ``start <= at < end`` (naive UTC), oldest first."""
    require_tables(engine, conversation_events)
    query = sa.select(conversation_events)
    if start is not None:
        query = query.where(conversation_events.c.at >= start)
    if end is not None:
        query = query.where(conversation_events.c.at < end)
    with engine.connect() as conn:
        # A month of a large centre's record is millions of rows, turned into Python after the one query: the
        # read holds no lock, and may stay idle that long (PostgreSQL ends other idle transactions after 30 s).
        idle_allowed(conn)
        return [dict(r) for r in conn.execute(query.order_by(conversation_events.c.at, conversation_events.c.id)).mappings()]


def read_whole_contacts(engine: Engine, start: dt.datetime, end: dt.datetime, starts: Collection[str]) -> list[dict]:
    """:func:`read_events` from ``start`` to ``end``, and the earlier events of every contact under way at
    ``start``: for a conversation whose first event there is not of a ``starts`` kind, its events since
    its last such event before ``start``. Read from ``start`` alone, the rest of a contact begun earlier
    (a callback booked in the evening and rung the next morning, a chat closed after midnight) looked like
    a contact of its own, counted in both periods."""
    events = read_events(engine, start, end)
    first: dict[str, str] = {}
    for event in events:
        first.setdefault(event["conversation_id"], event["kind"])
    under_way = sorted(conversation for conversation, kind in first.items() if kind not in starts)
    c = conversation_events.c
    earlier: list[dict] = []
    with engine.connect() as conn:
        for n in range(0, len(under_way), 500):
            began = conn.execute(sa.select(c.conversation_id, sa.func.max(c.at)).where(
                c.conversation_id.in_(under_way[n:n + 500]), c.kind.in_(list(starts)), c.at < start)
                .group_by(c.conversation_id)).all()
            for conversation, since in began:
                earlier += [dict(r) for r in conn.execute(sa.select(conversation_events).where(
                    c.conversation_id == conversation, c.at >= since, c.at < start)).mappings()]
    return sorted(earlier, key=lambda e: (e["at"], e["id"])) + events
