"""Outcome events waiting for the database, parked in Redis so a process that dies takes none with it.

When the database refuses a write, the recorder appends the event (with its stable ``event_id``)
to one Redis list per database. Whichever process comes next — any Kefu process, on its first
event and every few seconds after — drains the list under a Redis lock: it reads a batch from the
head, writes it (idempotently by ``event_id``, so a batch written just before a crash is not
stored twice) and only then removes that batch, and only if it still holds the lock. A drainer
that dies mid-batch leaves the batch in the list for the next one, and its lock lapses within
``LOCK_TTL_MS``, so a crash holds the others up for seconds, not a minute.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from types import MappingProxyType
from typing import Awaitable, Callable

import redis.asyncio as aioredis

from bot.outcomes.events import OutcomeEvent
from bot.redis_lock import RELEASE_IF_HOLDER

BATCH = 500
# How long a drainer that died keeps the others waiting. A write slower than this is safe: the holder
# can no longer trim, and the next drainer writes the batch again (event_id is unique, writes skip known ids).
LOCK_TTL_MS = 5_000

# Remove the written batch from the head only while this drainer still holds the lock.
_TRIM_IF_HOLDER = """
if redis.call('get', KEYS[2]) == ARGV[1] then
  redis.call('ltrim', KEYS[1], tonumber(ARGV[2]), -1)
  return 1
end
return 0
"""


def to_json(event: OutcomeEvent) -> str:
    return json.dumps({"event_id": event.event_id, "conversation_id": event.conversation_id, "kind": event.kind,
                       "channel": event.channel, "customer": event.customer, "data": dict(event.data),
                       "at": event.at.isoformat()}, ensure_ascii=False)


def from_json(raw: bytes | str) -> OutcomeEvent:
    fields = json.loads(raw)
    return OutcomeEvent(conversation_id=fields["conversation_id"], kind=fields["kind"], channel=fields["channel"],
                        customer=fields["customer"], data=MappingProxyType(fields["data"]),
                        at=dt.datetime.fromisoformat(fields["at"]), event_id=fields["event_id"])


def pending_key(database_url: str) -> str:
    """One list per database: events parked for one database are never written to another."""
    return f"kefu:outcomes:pending:{hashlib.sha1(database_url.encode()).hexdigest()[:16]}"


class PendingEvents:
    def __init__(self, client: aioredis.Redis, database_url: str) -> None:
        self.client = client
        self.key = pending_key(database_url)
        self.lock_key = f"{self.key}:drain"

    async def park(self, events: list[OutcomeEvent]) -> None:
        await self.client.rpush(self.key, *(to_json(e) for e in events))

    async def count(self) -> int:
        return int(await self.client.llen(self.key))

    async def drain(self, write: Callable[[list[OutcomeEvent]], Awaitable[object]]) -> int | None:
        """Write parked events through ``write`` until none are left; how many were written, or None
        when another process is draining. An exception from ``write`` leaves the batch parked."""
        token = uuid.uuid4().hex
        if not await self.client.set(self.lock_key, token, nx=True, px=LOCK_TTL_MS):
            return None
        written = 0
        try:
            while True:
                batch = await self.client.lrange(self.key, 0, BATCH - 1)
                if not batch:
                    return written
                await write([from_json(raw) for raw in batch])
                if not await self.client.eval(_TRIM_IF_HOLDER, 2, self.key, self.lock_key, token, len(batch)):
                    return written  # the lock expired: the next drainer writes the batch again (idempotent)
                written += len(batch)
        finally:
            await self.client.eval(RELEASE_IF_HOLDER, 1, self.lock_key, token)
