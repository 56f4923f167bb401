"""The one way to record an outcome event: off the event loop, and never lost to an outage or a crash.

``record`` writes in a worker thread and returns when the row is stored; events recorded while a
write is running go to the database together in the next one (one transaction, and under load
one commit for many turns instead of one each, with nothing delayed when the recorder is idle). If the database is
unavailable the event is parked in Redis (``bot.outcomes.pending``), shared by every process, and
a background task retries with back-off; any process that records later, or a new process on its
first event, drains what is parked — so an event survives the process that recorded it. Writes are
idempotent by ``event_id``. Only if Redis is unreachable too does an event wait in this process's
memory. A database down for a few seconds costs no event and never delays a reply by more than one
failed attempt.
"""
from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections import deque
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError

from bot.db.errors import database_error
from bot.db.repository import engine_for
from bot.observability.metrics import count_outcome
from bot.outcomes.events import OutcomeEvent, outcome_event
from bot.outcomes.pending import PendingEvents, to_json
from bot.outcomes.store import write_events
from bot.redis_reconnect import reconnecting

logger = logging.getLogger(__name__)

MAX_BUFFERED = 100_000  # in memory, only while Redis is unreachable too; beyond it the oldest are dropped
RETRY_FIRST_S, RETRY_MAX_S = 0.2, 5.0
LOOK_FOR_PARKED_EVERY_S = 5.0  # how often a healthy process checks for events others parked
# The database answered and refused a row (a value that does not fit, a missing one): not an outage.
REFUSED = (IntegrityError, DataError)


class OutcomeRecorder:
    """Writes events to one database; parks in Redis (or, failing that, memory) and retries what could not be written."""

    def __init__(self, database_url: str, redis_url: str | None = None) -> None:
        self.database_url = database_url
        self.parked = PendingEvents(aioredis.Redis.from_url(redis_url, **reconnecting()), database_url) if redis_url else None
        self._buffer: deque[OutcomeEvent] = deque()
        self._retrying: asyncio.Task | None = None
        self._looked_at = float("-inf")
        self._database_down = False
        self._next_batch: list[tuple[OutcomeEvent, asyncio.Future]] = []
        self._batch_writer: asyncio.Task | None = None

    @property
    def buffered(self) -> int:
        """Events waiting in this process's memory (Redis was unreachable when they were deferred)."""
        return len(self._buffer)

    async def waiting(self) -> int:
        """Events not yet in the database: this process's memory and everything parked in Redis."""
        return len(self._buffer) + (await self.parked.count() if self.parked else 0)

    async def record(self, event: OutcomeEvent) -> None:
        if self._buffer:  # keep order behind events still waiting in memory
            self._keep(event)
            return
        if self._database_down:  # the database failed the last write: park without another attempt
            await self._defer(event)
            return
        try:
            await self._write_with_others(event)
        except SQLAlchemyError as exc:
            logger.warning("outcomes.write.deferred kind=%s conversation=%s error=%s", event.kind,
                           event.conversation_id, database_error(exc))
            await self._defer(event)
            return
        await self._look_for_parked()

    async def drain(self) -> None:
        """Start writing what any process parked (a new process calls this once it can)."""
        self._looked_at = float("-inf")
        await self._look_for_parked()

    async def flush(self, timeout: float = 30.0) -> bool:
        """Wait until nothing waits (tests, shutdown); False if events still wait after ``timeout``."""
        if self._retrying is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._retrying), timeout)
            except asyncio.TimeoutError:
                return False
        try:
            return await self.waiting() == 0
        except RedisError:
            return False

    async def _write(self, events: list[OutcomeEvent]) -> int:
        try:
            try:
                written = await asyncio.to_thread(write_events, engine_for(self.database_url), events)
            except REFUSED:
                # One row the database refuses must not hold up the rest, here and in every other process
                # (found in review: taken for an outage, it parked every later event behind it for ever).
                written, refused = await asyncio.to_thread(self._write_each, events)
                await self._set_aside(refused)
        except SQLAlchemyError:
            self._database_down = True
            raise
        self._database_down = False
        return written

    def _write_each(self, events: list[OutcomeEvent]) -> tuple[int, list[OutcomeEvent]]:
        """Each event in its own transaction: (how many were written, those the database refused)."""
        written, refused = 0, []
        for event in events:
            try:
                written += write_events(engine_for(self.database_url), [event])
            except REFUSED as exc:
                logger.error("outcomes.event.refused kind=%s conversation=%s event_id=%s error=%s", event.kind,
                             event.conversation_id, event.event_id, database_error(exc))
                refused.append(event)
        return written, refused

    async def _set_aside(self, refused: list[OutcomeEvent]) -> None:
        """Refused events go to ``<parked list>:refused`` for a person (each is logged as refused too)."""
        if not refused or self.parked is None:
            return
        try:
            await self.parked.client.rpush(f"{self.parked.key}:refused", *(to_json(e) for e in refused))
        except RedisError as exc:
            logger.error("outcomes.refused.not_kept count=%d error=%s", len(refused), type(exc).__name__)

    async def _write_with_others(self, event: OutcomeEvent) -> None:
        """Write ``event`` in the next batch; raises what writing that batch raised."""
        stored = asyncio.get_running_loop().create_future()
        self._next_batch.append((event, stored))
        if self._batch_writer is None or self._batch_writer.done():
            self._batch_writer = asyncio.get_running_loop().create_task(self._write_batches())
        await stored

    async def _write_batches(self) -> None:
        while self._next_batch:
            batch, self._next_batch = self._next_batch, []
            try:
                await self._write([event for event, _ in batch])
            except asyncio.CancelledError:
                for _, stored in batch + self._next_batch:
                    stored.cancel()
                raise
            except Exception as exc:  # noqa: BLE001 - handed to every caller of the batch, which raises it
                for _, stored in batch:
                    if not stored.done():
                        stored.set_exception(exc)
            else:
                for _, stored in batch:
                    if not stored.done():
                        stored.set_result(None)

    async def _defer(self, event: OutcomeEvent) -> None:
        if self.parked is not None:
            try:
                await self.parked.park([event])
            except RedisError as exc:
                logger.error("outcomes.park.failed kind=%s conversation=%s error=%s", event.kind,
                             event.conversation_id, type(exc).__name__)
            else:
                self._start_retrying()
                return
        self._keep(event)

    async def _look_for_parked(self) -> None:
        """Now and then (and on a process's first event) see whether events wait in Redis, and drain them."""
        if self.parked is None or self._busy() or time.monotonic() - self._looked_at < LOOK_FOR_PARKED_EVERY_S:
            return
        self._looked_at = time.monotonic()
        try:
            waiting = await self.parked.count()
        except RedisError as exc:
            logger.warning("outcomes.park.unreachable error=%s", type(exc).__name__)
            return
        if waiting:
            self._start_retrying()

    def _keep(self, event: OutcomeEvent) -> None:
        if len(self._buffer) >= MAX_BUFFERED:
            lost = self._buffer.popleft()
            logger.error("outcomes.buffer.full dropped=%s conversation=%s", lost.kind, lost.conversation_id)
        self._buffer.append(event)
        self._start_retrying()

    def _busy(self) -> bool:
        return self._retrying is not None and not self._retrying.done()

    def _start_retrying(self) -> None:
        if not self._busy():
            self._retrying = asyncio.get_running_loop().create_task(self._retry())

    async def _retry(self) -> None:
        delay = RETRY_FIRST_S
        while True:
            try:
                if await self._retry_once():
                    return
                delay = RETRY_FIRST_S
            except (SQLAlchemyError, RedisError) as exc:
                delay = min(delay * 2, RETRY_MAX_S)
                logger.warning("outcomes.write.retry buffered=%d error=%s", len(self._buffer), database_error(exc))
            await asyncio.sleep(delay)

    async def _retry_once(self) -> bool:
        """One pass over memory and Redis; True once nothing waits."""
        if self._buffer:
            batch = list(self._buffer)[:500]
            await self._write(batch)
            for _ in batch:
                self._buffer.popleft()
            logger.info("outcomes.write.recovered written=%d buffered=%d", len(batch), len(self._buffer))
        if self.parked is not None:
            written = await self.parked.drain(self._write)
            if written:
                logger.info("outcomes.parked.drained written=%d", written)
            if await self.parked.count():
                return False  # still parked: the database is down, or another process is draining
        return not self._buffer


# Keyed by the loop object itself (weakly): an id() can be reused by a later loop, which would
# inherit a buffer whose retry task died with the old one.
_recorders: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple, OutcomeRecorder]]" = \
    weakref.WeakKeyDictionary()


def recorder_for(database_url: str | None = None, redis_url: str | None = None) -> OutcomeRecorder:
    """One recorder per database and event loop (its retry task and Redis client belong to that loop);
    events are parked in ``redis_url``'s Redis, by default Kefu's own (``REDIS_URL``)."""
    from bot.settings import get_settings

    database_url = database_url or get_settings().database_url
    redis_url = redis_url or get_settings().redis.url
    per_loop = _recorders.setdefault(asyncio.get_running_loop(), {})
    key = (database_url, redis_url)
    if key not in per_loop:
        per_loop[key] = OutcomeRecorder(database_url, redis_url)
    return per_loop[key]


async def record(conversation_id: str, kind: str, /, *, channel: str = "", customer: str = "",
                 database_url: str | None = None, event_id: str | None = None, **data: Any) -> None:
    """Record one outcome event for ``conversation_id`` (the Rasa sender id on every channel); ``event_id`` as
    for :func:`outcome_event`."""
    event = outcome_event(conversation_id, kind, channel=channel, customer=customer, event_id=event_id, **data)
    count_outcome(kind, channel, data)
    await recorder_for(database_url).record(event)
