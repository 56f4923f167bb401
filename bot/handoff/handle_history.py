"""The handle times the record holds (``handoff_closed`` events), for a wait estimate whose Redis has none.

Redis keeps each skill's last closes (``bot.handoff.estimate``); a new or emptied Redis has none, and
the estimate would fall back to the default handle time while the database knows the centre's real
ones (found by the head-of-operations tester: before any close was measured, the peak offer quoted
whole default handle times). Read once per skill and then kept in Redis by the estimate; a look that
found nothing is not repeated for ``RETRY_S``, so the queue's hot path (every notice, every offer)
does not query the database each second.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from bot.db.repository import engine_for
from bot.db.schema import conversation_events
from bot.db.schema_ready import require_tables

logger = logging.getLogger(__name__)

LOOK_BACK = dt.timedelta(days=30)  # older handle times say little about today's team
ROWS_PER_VALUE = 10  # closes of every skill read to find one of this skill's
RETRY_S = 300.0
_empty_looks: dict[tuple[str, str], float] = {}  # (database url, skill) -> when a look found none


def recorded_handle_times(url: str, skill: str, window: int, now: dt.datetime) -> list[float]:
    """The skill's last ``window`` handle times in the record, newest first (``now``: naive UTC)."""
    engine = engine_for(url)
    require_tables(engine, conversation_events)
    query = (sa.select(conversation_events.c.data)
             .where(conversation_events.c.kind == "handoff_closed", conversation_events.c.at >= now - LOOK_BACK)
             .order_by(conversation_events.c.at.desc(), conversation_events.c.id.desc())
             .limit(max(1, window) * ROWS_PER_VALUE))
    with engine.connect() as conn:
        rows = conn.execute(query).scalars().all()
    values = [float(d["handle_s"]) for d in rows
              if isinstance(d, dict) and d.get("skill") == skill and isinstance(d.get("handle_s"), (int, float))]
    return values[:max(1, window)]


class DatabaseHandleTimes:
    """``await history(skill, window)``: the record's handle times, [] when it has none or cannot say."""

    def __init__(self, database_url: str | None = None, clock=time.monotonic) -> None:
        self.database_url = database_url
        self.clock = clock

    async def __call__(self, skill: str, window: int) -> list[float]:
        from bot.settings import get_settings

        url = self.database_url or get_settings().database_url
        looked = _empty_looks.get((url, skill))
        if looked is not None and self.clock() - looked < RETRY_S:
            return []
        try:
            now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
            values = await asyncio.to_thread(recorded_handle_times, url, skill, window, now)
        except (SQLAlchemyError, OSError) as exc:  # the estimate goes on with the default
            logger.warning("handoff.handle_history.unavailable error=%s", type(exc).__name__)
            values = []
        if values:
            _empty_looks.pop((url, skill), None)
        else:
            _empty_looks[(url, skill)] = self.clock()
        return values
