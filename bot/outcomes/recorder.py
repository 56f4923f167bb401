"""The one way to record an outcome event: off the event loop, and never lost to a short outage.

``record`` writes in a worker thread and returns when the row is stored. If the database is
unavailable the event joins this process's buffer and a background task retries the buffer
with back-off until it is written (idempotently, by ``event_id``), so a database down for a
few seconds costs no event and never delays a reply by more than one failed attempt.
"""
from __future__ import annotations

import asyncio
import logging
import weakref
from collections import deque
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from bot.db.repository import engine_for
from bot.observability.metrics import count_outcome
from bot.outcomes.events import OutcomeEvent, outcome_event
from bot.outcomes.store import write_events

logger = logging.getLogger(__name__)

MAX_BUFFERED = 100_000  # about 50 MB; beyond it the oldest events are dropped and logged
RETRY_FIRST_S, RETRY_MAX_S = 0.2, 5.0


class OutcomeRecorder:
    """Writes events to one database; buffers and retries what could not be written."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self._buffer: deque[OutcomeEvent] = deque()
        self._retrying: asyncio.Task | None = None

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    async def record(self, event: OutcomeEvent) -> None:
        if self._buffer:  # keep order behind events still waiting for the database
            self._keep(event)
            return
        try:
            await asyncio.to_thread(write_events, engine_for(self.database_url), [event])
        except SQLAlchemyError as exc:
            logger.warning("outcomes.write.deferred kind=%s conversation=%s error=%s", event.kind,
                           event.conversation_id, type(exc).__name__)
            self._keep(event)

    async def flush(self, timeout: float = 30.0) -> bool:
        """Wait until the buffer is written (tests, shutdown); False if still buffered after ``timeout``."""
        if self._retrying is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._retrying), timeout)
            except asyncio.TimeoutError:
                return False
        return not self._buffer

    def _keep(self, event: OutcomeEvent) -> None:
        if len(self._buffer) >= MAX_BUFFERED:
            lost = self._buffer.popleft()
            logger.error("outcomes.buffer.full dropped=%s conversation=%s", lost.kind, lost.conversation_id)
        self._buffer.append(event)
        if self._retrying is None or self._retrying.done():
            self._retrying = asyncio.get_running_loop().create_task(self._retry())

    async def _retry(self) -> None:
        delay = RETRY_FIRST_S
        while self._buffer:
            await asyncio.sleep(delay)
            batch = list(self._buffer)[:500]
            try:
                await asyncio.to_thread(write_events, engine_for(self.database_url), batch)
            except SQLAlchemyError as exc:
                delay = min(delay * 2, RETRY_MAX_S)
                logger.warning("outcomes.write.retry buffered=%d error=%s", len(self._buffer), type(exc).__name__)
                continue
            for _ in batch:
                self._buffer.popleft()
            delay = RETRY_FIRST_S
            logger.info("outcomes.write.recovered written=%d buffered=%d", len(batch), len(self._buffer))


# Keyed by the loop object itself (weakly): an id() can be reused by a later loop, which would
# inherit a buffer whose retry task died with the old one.
_recorders: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, OutcomeRecorder]]" = \
    weakref.WeakKeyDictionary()


def recorder_for(database_url: str | None = None) -> OutcomeRecorder:
    """One recorder per database and event loop (its retry task belongs to that loop)."""
    if database_url is None:
        from bot.settings import get_settings

        database_url = get_settings().database_url
    per_loop = _recorders.setdefault(asyncio.get_running_loop(), {})
    if database_url not in per_loop:
        per_loop[database_url] = OutcomeRecorder(database_url)
    return per_loop[database_url]


async def record(conversation_id: str, kind: str, /, *, channel: str = "", customer: str = "",
                 database_url: str | None = None, **data: Any) -> None:
    """Record one outcome event for ``conversation_id`` (the Rasa sender id on every channel)."""
    event = outcome_event(conversation_id, kind, channel=channel, customer=customer, **data)
    count_outcome(kind, channel)
    await recorder_for(database_url).record(event)
