"""What a desk close files, filed once per claim, whatever cuts the close off or runs beside it.

A close files its ticket in the database before the queue's script ends the claim. Found in review: a close cut off
in between (Redis not answering after the ticket was filed) left the conversation claimed, and the agent's retry
filed a second ticket; so did two close requests at once (a double click, a page retrying). The ticket notes the
close that filed it (``FILED_BY``: the claim's close mark and the disposition), and a close of that claim looks
for it before filing; one close of a conversation runs at a time (:func:`one_at_a_time`), so a second request
meets the first's ticket or its finished close, never an empty ledger it files into again.
A close that takes up a ticket filed before it (已解决 resolving the customer's open ticket, 转工单跟进 adding the
agent's note to it) notes itself on that ticket the same way (``TAKEN_UP_BY``), in the write that takes it up: found
in review, the retry of the one filed a second, resolved ticket, of the other added the note twice.
"""
from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from contextlib import asynccontextmanager

from redis.exceptions import RedisError

from bot.db.repository import Repository
from bot.handoff import keys
from bot.redis_text import as_text_or_none

# In a ticket's details: the close that filed it (bot.handoff.handback.close_mark of the claim it closed).
FILED_BY = "filed_by_close"
# In a ticket's details: the closes that took it up, filed before them, each as {"close": mark, "disposition": ...}.
TAKEN_UP_BY = "taken_up_by_closes"
# How long a close may hold its conversation: longer than its filing and its queue's script take. A hold left behind
# (its close cut off, Redis not answering as it ended) is taken over at once by the retry in the same process; one
# in another process waits for it to expire.
FILING_S = 10.0
_POLL_S = 0.05
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
_TAKE_OVER = """if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) return 1 end return 0"""
_holding: set[str] = set()  # this process's holds whose close still runs


def _this_process() -> str:
    """The prefix of this process's holds (a worker forked from another has its own pid)."""
    return f"{socket.gethostname()}:{os.getpid()}:"


@asynccontextmanager
async def one_at_a_time(redis, conversation_id: str):
    """Holds the conversation's close while the block runs: a second close waits for the first (at most
    ``FILING_S``, when the hold expires on its own), then finds what it did. Found in review: a hold whose release
    was lost made the agent's retry wait the whole ``FILING_S``; this process's own, ended, is taken over."""
    key, token, ttl_ms = keys.close_filing(conversation_id), _this_process() + uuid.uuid4().hex, int(FILING_S * 1000)
    _holding.add(token)
    deadline = time.monotonic() + FILING_S
    try:
        while not await redis.set(key, token, nx=True, px=ttl_ms):
            holder = as_text_or_none(await redis.get(key))
            ended_here = holder is not None and holder.startswith(_this_process()) and holder not in _holding
            if (ended_here or time.monotonic() >= deadline) and holder is not None \
                    and await redis.eval(_TAKE_OVER, 1, key, holder, token, ttl_ms):
                break
            await asyncio.sleep(_POLL_S)
        yield
    finally:
        _holding.discard(token)
        try:
            await redis.eval(_RELEASE, 1, key, token)
        except RedisError:  # Redis not answering: the hold expires on its own, or a retry here takes it over
            pass


def by_close(details: dict | None, mark: str, disposition: str) -> bool:
    """Whether the close ``mark`` filed the ticket with these ``details`` for ``disposition``, or took it up."""
    details = details or {}
    return bool(mark) and ((details.get(FILED_BY) == mark and details.get("disposition") == disposition)
                           or _taken_up(mark, disposition) in (details.get(TAKEN_UP_BY) or []))


def taken_up(details: dict, mark: str, disposition: str) -> dict:
    """``details`` noting that the close ``mark`` took the ticket up for ``disposition`` (none: as they are)."""
    return {**details, TAKEN_UP_BY: [*(details.get(TAKEN_UP_BY) or []), _taken_up(mark, disposition)]} if mark \
        else details


def _taken_up(mark: str, disposition: str) -> dict:
    return {"close": mark, "disposition": disposition}


async def filed_before(repository: Repository, conversation_id: str, mark: str, disposition: str) -> dict | None:
    """The ticket of the conversation an earlier try of this claim's close (``mark``) filed or took up for
    ``disposition``, if any."""
    filed = await asyncio.to_thread(repository.tickets_for, None, conversation_id=conversation_id)
    return next((t for t in filed if by_close(t["details"], mark, disposition)), None)
