"""What a desk close files, filed once per claim, whatever cuts the close off or runs beside it.

A close files its ticket in the database before the queue's script ends the claim. Found in review: a close cut off
in between (Redis not answering after the ticket was filed) left the conversation claimed, and the agent's retry
filed a second ticket; so did two close requests at once (a double click, a page retrying). The ticket notes the
close that filed it (``FILED_BY``: the claim's close mark and the disposition), and a close of that claim looks
for it before filing; one close of a conversation runs at a time (:func:`one_at_a_time`), so a second request
meets the first's ticket or its finished close, never an empty ledger it files into again.
"""
from __future__ import annotations

import asyncio
import time
import uuid
from contextlib import asynccontextmanager

from redis.exceptions import RedisError

from bot.db.repository import Repository
from bot.handoff import keys

# In a ticket's details: the close that filed it (bot.handoff.handback.close_mark of the claim it closed).
FILED_BY = "filed_by_close"
# How long a close may hold its conversation: longer than its filing and its queue's script take, short enough
# that a retry after a close cut off (its hold left behind, Redis not answering as it ended) waits little.
FILING_S = 10.0
_POLL_S = 0.05
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


@asynccontextmanager
async def one_at_a_time(redis, conversation_id: str):
    """Holds the conversation's close while the block runs: a second close waits for the first (at most
    ``FILING_S``, when the hold expires on its own), then finds what it did."""
    key, token = keys.close_filing(conversation_id), uuid.uuid4().hex
    deadline = time.monotonic() + FILING_S
    while not await redis.set(key, token, nx=True, px=int(FILING_S * 1000)):
        if time.monotonic() >= deadline:
            await redis.set(key, token, px=int(FILING_S * 1000))  # its holder is long gone
            break
        await asyncio.sleep(_POLL_S)
    try:
        yield
    finally:
        try:
            await redis.eval(_RELEASE, 1, key, token)
        except RedisError:  # Redis not answering: the hold expires on its own
            pass


async def filed_before(repository: Repository, conversation_id: str, mark: str, disposition: str) -> dict | None:
    """The ticket an earlier try of this claim's close (``mark``) filed for ``disposition``, if any."""
    filed = await asyncio.to_thread(repository.tickets_for, None, conversation_id=conversation_id)
    return next((t for t in filed if (t["details"] or {}).get(FILED_BY) == mark
                 and (t["details"] or {}).get("disposition") == disposition), None)
