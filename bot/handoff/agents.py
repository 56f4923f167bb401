"""Agents as the queue sees them: skills, capacity, status and presence, all in Redis.

Accounts and passwords live in the database (``bot.handoff.accounts``); this is the live side.
An agent counts as online for a skill while their status is ``available`` and their desk has
checked in within ``presence_timeout_s`` (a closed browser drops out on its own). The desk checks
in (``heartbeat``) on every overview poll (every 2 s while the page is open; browsers slow a background
tab's timers to about once a minute at worst), every write request, and every ``STREAM_KEEPALIVE_S``
while a conversation's event stream is open (server-driven, so not slowed in a background tab).
After ``agent_gone_after_s`` without one the waiting room takes their customers back
(``bot.handoff.departures``).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import redis.asyncio as redis

from bot.handoff import keys
from bot.redis_text import as_text

STATUSES = ("available", "away")


class AgentError(ValueError):
    """An unknown status or skill group."""


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

    def present(self, state: AgentState | None) -> bool:
        """Whether the agent's desk checked in within ``presence_timeout_s`` (a live roster entry)."""
        return (state is not None and state.last_seen is not None
                and state.last_seen >= self.clock() - self.presence_timeout_s)

    async def online(self) -> list[AgentState]:
        """Available agents whose desk checked in recently."""
        since = self.clock() - self.presence_timeout_s
        ids = [as_text(a) for a in await self.redis.zrangebyscore(keys.presence(), since, "+inf")]
        states = [await self.get(agent_id) for agent_id in ids]
        return [s for s in states if s is not None and s.status == "available"]

    async def capacity_for(self, skill: str) -> int:
        """How many conversations the online agents of ``skill`` can hold at once."""
        return sum(s.capacity for s in await self.online() if skill in s.skills)

