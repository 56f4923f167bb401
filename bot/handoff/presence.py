"""Whether a web-chat customer is there, shared through Redis.

The web chat marks its session on every sign of life (the page opening, each ``session_alive`` ping the
page sends, each message) and when a page disconnects. Three keys per conversation, each with a week's
expiry (nothing to clean up, any worker can read them):

* ``customer_seen_key``: the last sign of life *or* departure. The waiting room's grace period counts
  from it, and it is when a customer who closed the page left.
* ``customer_alive_key``: the last sign of life only (not a disconnect, which the server may notice late:
  a lost signal at the Socket.IO ping timeout): whether the customer showed any life after an agent took
  them (``bot.handoff.unanswered``).
* ``customer_pages_key``: the open pages, socket id -> their last sign of life. A page that disconnects
  leaves it at once; one silent for ``PAGE_SILENT_S`` (its worker was killed, so no disconnect ran)
  no longer counts.

The two sight keys only ever move forward (:data:`_LATEST_SIGHT`): a worker may write a page's close late,
once Redis answers again, after newer sights of the conversation's other pages.

A customer is **gone** while no page of theirs is open and they were seen at all: the page was closed or
lost its connection and has not come back. Gone customers keep their place in the queue during the
grace period but are not handed to an agent (``bot.handoff.queue``'s claim script reads these keys
too). Only the web chat knows this, and neither is a booked callback's customer gone
(:func:`page_tells_presence`): the customer was told they could leave, an agent rings them.

A queued phone call is gone the same way when the process holding it stopped vouching for it: the process
writes ``HELD_AT_FIELD`` into the call's queue record while it waits (``bot.ivr.held_calls``, every
``PAGE_SILENT_S`` / 3 from a thread, while an agent serves it too) and the queue writes it as the call
joins (:data:`VOUCH_LUA`). Silent for ``PAGE_SILENT_S``, the process died (killed, out of memory, its
machine lost) and the caller's line with it. A record without the field (a booked callback) is never gone
this way.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

import redis.asyncio as redis

from bot.handoff import keys
from bot.handoff.agents import IS_CALLBACK_LUA, PHONE_CHANNEL

PRESENCE_TTL_S = 7 * 24 * 3600
# An open page checks in every 20 s (bot/web/chat/chat.js); a background tab's timers may be slowed to
# once a minute. Silent longer than this, a page nobody saw disconnect no longer counts as open.
PAGE_SILENT_S = 90.0
SEEN_PREFIX = "kefu:presence:customer:"
ALIVE_PREFIX = "kefu:presence:alive:"
PAGES_PREFIX = "kefu:presence:pages:"
WEBCHAT_CHANNEL = "webchat"
# The queue record's field: when the process holding a call (waiting, or with an agent) last vouched for it
# (epoch seconds).
HELD_AT_FIELD = "held_at"

# vouch(key, now): the record at ``key`` is vouched for now if it is a call on the line, waiting or with an
# agent: a waiting or claimed record of the phone's channel, not a booked callback (queued under the call's
# conversation while the call may still be on, it is not the line's: taken for a lost call once the call
# ended, it was never rung). The one rule for every writer of HELD_AT_FIELD: the process's renewals
# (bot.ivr.held_calls) and every script that puts a record in the queue (bot.handoff.queue's enqueue and
# transfer), so a call is vouched for from the moment it waits, however it came to (found in review: a
# call the assistant queued, or an agent transferred or gave back, waited up to a renewal unvouched, and a
# process dying then left it waiting for max_wait_s). A claimed call goes on being vouched for, so the agent's desk shows a call
# whose process died as gone (bot.handoff.unanswered), as it shows a web chat whose page closed.
VOUCH_LUA = IS_CALLBACK_LUA + f"""
local function vouch(key, now)
  local record = redis.call('HMGET', key, 'state', 'channel', 'request')
  if (record[1] == 'waiting' or record[1] == 'claimed') and record[2] == '{PHONE_CHANNEL}'
     and not (record[3] and is_callback(record[3])) then
    redis.call('HSET', key, '{HELD_AT_FIELD}', now)
  end
end
"""


def page_tells_presence(channel: str, call: bool) -> bool:
    """Whether a queued customer's page says whether they are there, so a closed one makes them gone:
    only a web chat's, and not when serving it is a call (a queue record's ``call`` field,
    bot.handoff.agents.is_call). Found in review: a callback booked in a web chat whose page was then
    closed, as the customer was told they could, was passed over by every claim and never rung.
    The claim's Lua script (bot.handoff.queue) applies the same rule to the record's fields."""
    return channel == WEBCHAT_CHANNEL and not call


def gone_reason(channel: str) -> str:
    """What a gone customer's leaving the queue is recorded as: ``call_lost`` for a call whose process died
    (the waiting room's and a supervisor's removal alike), ``customer_gone`` for a web chat's closed page."""
    return "call_lost" if channel == PHONE_CHANNEL else "customer_gone"


def customer_seen_key(conversation_id: str) -> str:
    return SEEN_PREFIX + conversation_id


def customer_alive_key(conversation_id: str) -> str:
    return ALIVE_PREFIX + conversation_id


def customer_pages_key(conversation_id: str) -> str:
    return PAGES_PREFIX + conversation_id


def presence_keys(conversation_id: str) -> list[str]:
    """Every presence key of a conversation (the privacy erasure deletes them)."""
    return [customer_seen_key(conversation_id), customer_alive_key(conversation_id),
            customer_pages_key(conversation_id)]


async def mark_customer_seen(client: redis.Redis, conversation_id: str, now: float) -> None:
    await client.set(customer_seen_key(conversation_id), repr(now), ex=PRESENCE_TTL_S)


# KEYS: sight keys (``customer_seen_key``, ``customer_alive_key``); ARGV: the time, the expiry (s). Each key takes
# the time only if it is newer than the one it holds: a write made late (a close a worker owed through a Redis
# outage, ``bot.channels.webchat_presence``) or overtaken by another worker's never moves a sight back.
_LATEST_SIGHT = """
for _, key in ipairs(KEYS) do
  local held = tonumber(redis.call('GET', key))
  if not held or held < tonumber(ARGV[1]) then
    redis.call('SET', key, ARGV[1], 'EX', ARGV[2])
  else
    redis.call('EXPIRE', key, ARGV[2])
  end
end
"""


async def page_alive(client: redis.Redis, conversation_id: str, page: str, now: float) -> int:
    """A page of the conversation is open and showed a sign of life (the customer's last sight and life, unless
    newer ones are written already). Returns how many pages of it are open, this one included (a silent one
    too, until its disconnect or the key's expiry: never fewer)."""
    async with client.pipeline(transaction=True) as pipe:
        pipe.zadd(customer_pages_key(conversation_id), {page: now})
        pipe.expire(customer_pages_key(conversation_id), PRESENCE_TTL_S)
        pipe.eval(_LATEST_SIGHT, 2, customer_alive_key(conversation_id), customer_seen_key(conversation_id),
                  repr(now), PRESENCE_TTL_S)
        pipe.zcard(customer_pages_key(conversation_id))
        return (await pipe.execute())[-1]


async def page_closed(client: redis.Redis, conversation_id: str, page: str, now: float) -> None:
    """A page of the conversation disconnected (closed, reloaded, or its connection was lost) at ``now``: the
    customer's last sight unless another page of theirs was seen since."""
    async with client.pipeline(transaction=True) as pipe:
        pipe.zrem(customer_pages_key(conversation_id), page)
        pipe.eval(_LATEST_SIGHT, 1, customer_seen_key(conversation_id), repr(now), PRESENCE_TTL_S)
        await pipe.execute()


async def customer_last_seen(client: redis.Redis, conversation_id: str) -> float | None:
    return _number(await client.get(customer_seen_key(conversation_id)))


async def customers_last_seen(client: redis.Redis, conversation_ids: list[str]) -> dict[str, float | None]:
    """:func:`customer_last_seen` of many conversations in one round trip (a page of the whole queue)."""
    if not conversation_ids:
        return {}
    found = await client.mget([customer_seen_key(conversation_id) for conversation_id in conversation_ids])
    return {conversation_id: _number(value) for conversation_id, value in zip(conversation_ids, found)}


@dataclass(frozen=True)
class Absence:
    """A customer who is gone: when they were last seen (closing the page is the last sight) and last alive."""
    seen_at: float
    alive_at: float | None

    def left_by(self, claimed_at: float | None = None) -> float:
        """When a customer who never exchanged a word with the agent left: the page's close, but no later
        than the claim. The server may notice a lost connection only at the ping timeout, after the claim;
        whether the customer left before or just after the agent took them cannot be told, and the claim
        is the one time known for certain (the wait is not understated)."""
        return self.seen_at if claimed_at is None else min(self.seen_at, claimed_at)


async def customer_gone(client: redis.Redis, entry: Mapping, now: float) -> Absence | None:
    """The absence of the customer of a queue ``entry`` (``conversation_id``, ``channel``, ``call``, as
    ``HandoffQueue.entry`` reads it) when their web chat has no open page or their call's process stopped
    vouching for it; None while one is open, when the page does not tell (:func:`page_tells_presence`), and
    for a conversation never seen (nothing known)."""
    return (await gone_among(client, [entry], now)).get(entry["conversation_id"])


def _number(value) -> float | None:
    return float(value.decode() if isinstance(value, bytes) else value) if value is not None else None


async def gone_among(client: redis.Redis, entries: Iterable[Mapping], now: float) -> dict[str, Absence]:
    """Of queue entries (``conversation_id``, ``channel``, ``call``), the customers who are gone, by
    conversation id, in one pipelined round trip (queue figures read every waiting entry): web chats with
    no open page, and calls whose process stopped vouching for them (last seen when it last did)."""
    entries = list(entries)
    chats = [e["conversation_id"] for e in entries if page_tells_presence(e["channel"], e["call"])]
    calls = [e["conversation_id"] for e in entries if e["channel"] == PHONE_CHANNEL]
    if not chats and not calls:
        return {}
    async with client.pipeline(transaction=False) as pipe:
        for conversation_id in chats:
            pipe.get(customer_seen_key(conversation_id))
            pipe.get(customer_alive_key(conversation_id))
            pipe.zcount(customer_pages_key(conversation_id), now - PAGE_SILENT_S, "+inf")
        for conversation_id in calls:
            pipe.hget(keys.conversation(conversation_id), HELD_AT_FIELD)
        found = await pipe.execute()
    gone = {}
    for i, conversation_id in enumerate(chats):
        seen, alive, open_pages = found[3 * i:3 * i + 3]
        if seen is not None and not int(open_pages):
            gone[conversation_id] = Absence(seen_at=_number(seen), alive_at=_number(alive))
    for conversation_id, held_at in zip(calls, found[3 * len(chats):]):
        if held_at is not None and _number(held_at) < now - PAGE_SILENT_S:
            gone[conversation_id] = Absence(seen_at=_number(held_at), alive_at=None)
    return gone
