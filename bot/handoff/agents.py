"""Agents as the queue sees them: skills, capacity, status and presence, all in Redis.

Accounts and passwords live in the database (``bot.handoff.accounts``); this is the live side.
An agent counts as online for a skill while their status is ``available`` and their desk has
checked in within ``presence_timeout_s`` (a closed browser drops out on its own). The desk checks
in (``heartbeat``) on every overview poll (every 2 s while the page is open; browsers slow a background
tab's timers to about once a minute at worst), every write request, and every ``STREAM_KEEPALIVE_S``
while a conversation's event stream is open (server-driven, so not slowed in a background tab).
After ``agent_gone_after_s`` without one the waiting room takes their customers back
(``bot.handoff.departures``). Not for check-ins missed while nobody could check in (Redis down, every
server down): the waiting room notes the gap and its desks get time to check in again (:meth:`AgentRoster.excuse`).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Callable

import redis.asyncio as redis

from bot.handoff import keys
from bot.redis_text import as_text

STATUSES = ("available", "away")
# A phone agent speaks to one caller at a time, whatever their chat concurrency (``capacity``):
# the estimate counts it and 接入下一位 enforces it (bot.handoff.queue's claim script).
CALLS_PER_AGENT = 1
PHONE_CHANNEL = "ivr"


def is_callback(context: dict | None) -> bool:
    """Whether a packet is a booked callback the agent rings: its ``callback`` is a non-empty object
    (bot.contacts.offer writes the contact there). The claim script (bot.handoff.queue) decodes a legacy
    record's packet and applies the same test."""
    callback = (context or {}).get("callback")
    return isinstance(callback, dict) and bool(callback)


# is_callback for Lua scripts, on a record's ``request`` (its JSON): cjson decodes an object to a table with
# string keys, an array to one with numbers. Prepended to the scripts that use it (bot.handoff.queue's claim,
# bot.ivr.held_calls).
IS_CALLBACK_LUA = """
local function is_callback(request)
  local context = cjson.decode(request).context
  if type(context) ~= 'table' then return false end
  local callback = context.callback
  return type(callback) == 'table' and type(next(callback)) == 'string'
end
"""


def is_call(channel: str, context: dict | None) -> bool:
    """Whether serving the conversation puts the agent on the phone: a caller on the line (``ivr``),
    or a booked callback the agent rings (:func:`is_callback`), whatever channel it was booked on. Kept
    with the queue record as its ``call`` field."""
    return channel == PHONE_CHANNEL or is_callback(context)


def recorded_call(call, channel, request) -> bool:
    """A queue record's ``call`` field (``"1"``/``"0"``). A record queued before the field existed is
    judged as :func:`is_call` judges a new one, on its channel and its packet (``request``, the record's
    JSON): found by an operator, callbacks waiting in Redis across the upgrade were taken for web chats
    whose page had closed and never handed out. Raw Redis values (bytes, str or None); ``request`` is
    only read for such a record (:func:`calls_among` fetches it then)."""
    if call is not None:
        return as_text(call) == "1"
    if channel is None:
        return False
    if as_text(channel) == PHONE_CHANNEL:
        return True
    return request is not None and is_callback(json.loads(as_text(request)).get("context"))


def _legacy(call, channel) -> bool:
    """A record without ``call`` whose packet decides (:func:`recorded_call`)."""
    return call is None and channel is not None and as_text(channel) != PHONE_CHANNEL


async def calls_among(client: redis.Redis, conversation_ids: list[str]) -> list[bool]:
    """Whether each queue record is a call (:func:`recorded_call`), in pipelined round trips: the
    packet, which may be long, only for records queued before the ``call`` field."""
    return [call for call, _ in await kinds_among(client, conversation_ids)]


async def kinds_among(client: redis.Redis, conversation_ids: list[str]) -> list[tuple[bool, str | None]]:
    """(whether it is a call, its channel) for each queue record, as :func:`calls_among` reads them."""
    if not conversation_ids:
        return []
    async with client.pipeline(transaction=False) as pipe:
        for conversation_id in conversation_ids:
            pipe.hmget(keys.conversation(conversation_id), ["call", "channel"])
        fields = await pipe.execute()
    legacy = [i for i, (call, channel) in enumerate(fields) if _legacy(call, channel)]
    requests = {}
    if legacy:
        async with client.pipeline(transaction=False) as pipe:
            for i in legacy:
                pipe.hget(keys.conversation(conversation_ids[i]), "request")
            requests = dict(zip(legacy, await pipe.execute()))
    return [(recorded_call(call, channel, requests.get(i)), None if channel is None else as_text(channel))
            for i, (call, channel) in enumerate(fields)]


class AgentError(ValueError):
    """An unknown status or skill group."""


@dataclass(frozen=True)
class Slots:
    """The conversations a skill's online agents can hold at once for one channel (``total``), and how
    many of those are free right now (``free``: the next customers in line are taken almost at once)."""
    total: int
    free: int


@dataclass(frozen=True)
class AgentState:
    agent_id: str
    name: str
    skills: tuple[str, ...]
    capacity: int
    status: str
    active: int
    last_seen: float | None


class AgentRoster:
    def __init__(self, client: redis.Redis, clock: Callable[[], float] = time.time,
                 presence_timeout_s: float = 60.0) -> None:
        self.redis = client
        self.clock = clock
        self.presence_timeout_s = presence_timeout_s

    async def register(self, agent_id: str, *, name: str, skills: list[str] | tuple[str, ...], capacity: int,
                       status: str = "away") -> None:
        """Mirror an account into Redis (on sign-in); keeps the current status unless given."""
        if status not in STATUSES:
            raise AgentError(f"unknown status {status!r}")
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.agent(agent_id), mapping={
                "name": name, "skills": ",".join(skills), "capacity": int(capacity), "status": status})
            pipe.sadd(keys.agents(), agent_id)
            pipe.zadd(keys.presence(), {agent_id: self.clock()})
            await pipe.execute()

    async def set_status(self, agent_id: str, status: str, *, from_desk: bool = True) -> None:
        """``from_desk``: the agent's own desk set it, a check-in; not when the waiting room sets away
        an agent whose desk has gone quiet (that must not make them look present)."""
        if status not in STATUSES:
            raise AgentError(f"unknown status {status!r}")
        await self.redis.hset(keys.agent(agent_id), "status", status)
        if from_desk:
            await self.heartbeat(agent_id)

    async def set_skills(self, agent_id: str, skills: list[str]) -> None:
        await self.redis.hset(keys.agent(agent_id), "skills", ",".join(skills))

    async def heartbeat(self, agent_id: str) -> None:
        await self.redis.zadd(keys.presence(), {agent_id: self.clock()})

    async def forget(self, agent_id: str) -> None:
        """Out of the roster (a removed account): no estimate counts them, no supervisor sees them."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(keys.agent(agent_id), keys.agent_active(agent_id))
            pipe.srem(keys.agents(), agent_id)
            pipe.zrem(keys.presence(), agent_id)
            await pipe.execute()

    async def get(self, agent_id: str) -> AgentState | None:
        raw = {as_text(k): v for k, v in (await self.redis.hgetall(keys.agent(agent_id))).items()}
        if not raw:
            return None
        active = await self.redis.scard(keys.agent_active(agent_id))
        seen = await self.redis.zscore(keys.presence(), agent_id)
        return AgentState(
            agent_id=agent_id, name=as_text(raw.get("name", "")),
            skills=tuple(s for s in as_text(raw.get("skills", "")).split(",") if s),
            capacity=int(raw.get("capacity", 1)), status=as_text(raw.get("status", "away")),
            active=int(active), last_seen=float(seen) if seen is not None else None,
        )

    async def present(self, state: AgentState | None) -> bool:
        """Whether the agent's desk checked in within ``presence_timeout_s`` (a live roster entry), an outage's
        missed check-ins excused (:meth:`excuse`) as :meth:`online` does."""
        return (state is not None and state.last_seen is not None
                and state.last_seen >= await self.seen_since(self.presence_timeout_s))

    async def seen_since(self, limit: float) -> float:
        """Since when a desk's check-in counts for an agent to be there, ``limit`` seconds back (the presence
        timeout, or ``agent_gone_after_s``), or as far back from the start of a gap in the waiting room's passes
        while its grace lasts (:meth:`excuse`): no desk could check in during it. The waiting room asks the same
        of a waiting customer's last sign of life (its grace as ``limit``): no page could give one either."""
        now = self.clock()
        began, until = await self.redis.hmget(keys.presence_grace(), ["from", "until"])
        if began is not None and until is not None and float(until) > now:
            return min(now, float(began)) - limit
        return now - limit

    async def excuse(self, began: float, until: float) -> None:
        """No desk could check in from ``began`` (Redis not answering, the servers restarting): a check-in that
        counted then counts until ``until``. Found in review: after an outage longer than ``presence_timeout_s``
        every waiting customer was told nobody was available, then that agents were back a check-in later; and
        past ``agent_gone_after_s`` every agent's customers were taken from them."""
        await self.redis.hset(keys.presence_grace(), mapping={"from": repr(began), "until": repr(until)})

    async def online(self) -> list[AgentState]:
        """Available agents whose desk checked in recently."""
        since = await self.seen_since(self.presence_timeout_s)
        ids = [as_text(a) for a in await self.redis.zrangebyscore(keys.presence(), since, "+inf")]
        states = [await self.get(agent_id) for agent_id in ids]
        return [s for s in states if s is not None and s.status == "available"]

    async def capacity_for(self, skill: str) -> int:
        """How many conversations the online agents of ``skill`` can hold at once."""
        return sum(s.capacity for s in await self.online() if skill in s.skills)

    async def slots(self, skill: str) -> tuple[Slots, Slots]:
        """The online agents of ``skill``'s (chat, call) slots, read once for both (bot.handoff.estimate).

        A chat slot per unit of ``capacity``, free while the agent serves fewer conversations than that.
        On the phone (``ivr``) one call per agent (``CALLS_PER_AGENT``), free while the agent is below
        their limit and holds no call (``calls_held``: a caller, or a callback they ring)."""
        chat_total = chat_free = call_total = call_free = 0
        for state in await self.online():
            if skill not in state.skills:
                continue
            chat_total += state.capacity
            chat_free += max(0, state.capacity - state.active)
            call_total += min(state.capacity, CALLS_PER_AGENT)
            calls = await self.calls_held(state.agent_id) if state.active else 0
            call_free += max(0, min(CALLS_PER_AGENT - calls, state.capacity - state.active))
        return Slots(chat_total, chat_free), Slots(call_total, call_free)

    async def calls_held(self, agent_id: str) -> int:
        """How many of the agent's conversations are calls (:func:`calls_among`)."""
        serving = [as_text(c) for c in await self.redis.smembers(keys.agent_active(agent_id))]
        return sum(await calls_among(self.redis, serving))
