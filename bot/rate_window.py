"""Sliding-window budgets in Redis: "no more than N in any W seconds", the same for every process.

Counters in fixed windows (``int(now // 3600)`` in the key) let a number have twice its budget
across the top of an hour: five texts at 12:59:50 and five more at 13:00:05. Here a budget is a
sorted set per key, one member per counted event scored by its time (ms), and one Lua script
drops the members older than the window, counts the rest and, if there is room, adds the new one
and renews the expiry: one atomic step, so parallel requests from any process each see their own
count, and no key is ever left without an expiry. A refused event is not recorded: recorded, a
steady trickle of refused tries would keep the window full for ever, and whoever kept trying could
keep a number's owner out.

The time comes from the caller's clock (injectable for tests), so the processes' clocks are assumed
to agree (NTP); a member's random suffix keeps two events of the same millisecond apart.
"""
from __future__ import annotations

import secrets

import redis.asyncio as redis

# KEYS[1]: the budget's sorted set. ARGV: now (ms), the oldest score still outside the window (ms),
# the limit, the new member, the window (ms). Returns 1 if the member was added, 0 if the window is full.
_TAKE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
local newest = tonumber(redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')[2])
redis.call('PEXPIRE', KEYS[1], math.max(newest - tonumber(ARGV[1]), 0) + tonumber(ARGV[5]))
return 1
"""


def _ms(seconds: float) -> int:
    return int(round(seconds * 1000))


async def take(client: redis.Redis, key: str, *, limit: int, window_s: int, now: float) -> str | None:
    """Count one event at ``now`` (seconds) if fewer than ``limit`` are in the last ``window_s``;
    returns its member (for ``give_back``), or None: the budget is used up and nothing was counted."""
    now_ms, window_ms = _ms(now), window_s * 1000
    member = f"{now_ms}-{secrets.token_hex(8)}"
    added = await client.eval(_TAKE, 1, key, now_ms, now_ms - window_ms, limit, member, window_ms)
    return member if int(added) else None


async def count(client: redis.Redis, key: str, *, window_s: int, now: float) -> int:
    """How many events the last ``window_s`` before ``now`` hold; counts nothing."""
    return int(await client.zcount(key, f"({_ms(now) - window_s * 1000}", "+inf"))


async def give_back(client: redis.Redis, key: str, member: str) -> None:
    """Uncount an event ``take`` counted (it turned out to be none)."""
    await client.zrem(key, member)
