"""The database's clock, for times that different machines write and compare.

Each machine's own clock may run ahead or behind; the database's is one clock for all of them. Both
forms are naive UTC, as ``DateTime`` columns hold times (PostgreSQL sessions are set to UTC).
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa


def now_sql(engine: sa.engine.Engine, seconds_ago: int = 0):
    """SQL for the database's time ``seconds_ago`` seconds ago."""
    if engine.dialect.name == "postgresql":
        return sa.func.localtimestamp() - dt.timedelta(seconds=seconds_ago)
    return sa.func.datetime("now", f"-{int(seconds_ago)} seconds")


def now(engine: sa.engine.Engine) -> dt.datetime:
    """The database's time now."""
    with engine.connect() as conn:
        value = conn.execute(sa.select(now_sql(engine))).scalar_one()
    return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)  # SQLite: its text
