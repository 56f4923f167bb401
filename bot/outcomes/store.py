"""Reading and writing the ``conversation_events`` table (synchronous SQLAlchemy Core).

Writes are idempotent by ``event_id``, so the recorder may retry a batch whose commit it could
not confirm. Databases made before the record had ``event_id``/``customer`` get the columns added.
"""
from __future__ import annotations

import datetime as dt
from typing import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.db.schema import conversation_events
from bot.outcomes.events import OutcomeEvent

_upgraded: set[str] = set()


def ensure_table(engine: Engine) -> None:
    """Create the table, or add the columns an older Kefu database lacks."""
    key = str(engine.url)
    if key in _upgraded:
        return
    conversation_events.create(engine, checkfirst=True)
    columns = {c["name"] for c in sa.inspect(engine).get_columns("conversation_events")}
    with engine.begin() as conn:
        if "event_id" not in columns:
            conn.execute(sa.text("ALTER TABLE conversation_events ADD COLUMN event_id VARCHAR(32)"))
        if "customer" not in columns:
            conn.execute(sa.text("ALTER TABLE conversation_events ADD COLUMN customer VARCHAR(96) DEFAULT '' NOT NULL"))
    _upgraded.add(key)


def write_events(engine: Engine, events: Iterable[OutcomeEvent]) -> int:
    """Insert the events not already stored; returns how many were new."""
    rows = [event.row() for event in events]
    if not rows:
        return 0
    ensure_table(engine)
    with engine.begin() as conn:
        known = set(conn.execute(sa.select(conversation_events.c.event_id).where(
            conversation_events.c.event_id.in_([r["event_id"] for r in rows]))).scalars())
        new = [r for r in rows if r["event_id"] not in known]
        if new:
            conn.execute(conversation_events.insert(), new)
    return len(new)


def read_events(engine: Engine, start: dt.datetime | None = None, end: dt.datetime | None = None) -> list[dict]:
    """Events with ``start <= at < end`` (naive UTC), oldest first."""
    ensure_table(engine)
    query = sa.select(conversation_events)
    if start is not None:
        query = query.where(conversation_events.c.at >= start)
    if end is not None:
        query = query.where(conversation_events.c.at < end)
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query.order_by(conversation_events.c.at, conversation_events.c.id)).mappings()]
