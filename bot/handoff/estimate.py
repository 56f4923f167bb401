"""Estimated wait: queue position, agents online for the skill, and recent handle times.

    wait = ceil(position / max(1, capacity)) * mean_handle_time

``position`` is 1-based (1 = next to be served); ``capacity`` is the number of conversations
the available agents of the skill can hold at once (their slots free up every mean handle time);
the mean is over the last ``window`` closed conversations of the skill, or the documented default
(``default_handle_time_s`` in content/handoff.yml) while there are none.
"""
from __future__ import annotations

import math

import redis.asyncio as redis

from bot.handoff import keys

# The waiting room's notices about the wait (bot.handoff.watcher.notify_if_changed): stale once an
# agent has the conversation, so a phone call does not say them then (bot.ivr.engine).
QUEUE_NOTICES = ("utter_queue_update", "utter_queue_nobody_available", "utter_queue_agents_back")


def estimate_wait(position: int, capacity: int, mean_handle_time_s: float) -> float:
    if position <= 0:
        return 0.0
    return math.ceil(position / max(1, capacity)) * float(mean_handle_time_s)


def wait_minutes(seconds: float) -> int:
    """What the customer is told: whole minutes, at least 1."""
    return max(1, math.ceil(seconds / 60))


async def record_handle_time(client: redis.Redis, skill: str, seconds: float, window: int) -> None:
    key = keys.handle_times(skill)
    async with client.pipeline(transaction=True) as pipe:
        pipe.lpush(key, f"{max(0.0, seconds):.3f}")
        pipe.ltrim(key, 0, max(1, window) - 1)
        await pipe.execute()


async def mean_handle_time(client: redis.Redis, skill: str, window: int, default_s: float) -> float:
    values = [float(v) for v in await client.lrange(keys.handle_times(skill), 0, max(1, window) - 1)]
    return sum(values) / len(values) if values else float(default_s)
