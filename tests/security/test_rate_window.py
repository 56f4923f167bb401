"""The sliding window both rate budgets count in (bot.rate_window), on a real Redis."""
from __future__ import annotations

import asyncio

from bot import rate_window
from tests.handoff.conftest import redis, redis_url  # noqa: F401  a real Redis

NOW = 1_700_000_000.0


async def test_no_more_than_the_limit_in_any_window_and_a_refusal_is_not_counted(redis):  # noqa: F811
    taken = [await rate_window.take(redis, "w", limit=2, window_s=60, now=NOW + t) for t in (0, 30, 59)]
    assert taken[0] and taken[1] and taken[2] is None
    # Refused at 59 s, and not counted: at 60 s the first is out of the window and one more fits.
    assert await rate_window.take(redis, "w", limit=2, window_s=60, now=NOW + 60)
    assert await rate_window.take(redis, "w", limit=2, window_s=60, now=NOW + 61) is None
    assert await rate_window.count(redis, "w", window_s=60, now=NOW + 61) == 2
    assert await rate_window.count(redis, "w", window_s=60, now=NOW + 90) == 1


async def test_takes_sent_together_from_many_clients_get_no_more_than_the_limit(redis, redis_url):  # noqa: F811
    import redis.asyncio as aioredis

    clients = [aioredis.Redis.from_url(redis_url) for _ in range(4)]
    try:
        taken = await asyncio.gather(*(rate_window.take(clients[n % 4], "w", limit=7, window_s=60, now=NOW)
                                       for n in range(40)))
    finally:
        for client in clients:
            await client.close()
    assert len([t for t in taken if t]) == 7 and len({t for t in taken if t}) == 7


async def test_the_key_expires_when_its_newest_event_leaves_the_window(redis):  # noqa: F811
    await rate_window.take(redis, "w", limit=5, window_s=60, now=NOW)
    assert 59_000 < await redis.pttl("w") <= 60_000
    await rate_window.take(redis, "w", limit=5, window_s=60, now=NOW + 20)  # a process with a clock ahead
    await rate_window.take(redis, "w", limit=5, window_s=60, now=NOW + 10)
    assert 69_000 < await redis.pttl("w") <= 70_000
    assert await rate_window.take(redis, "none", limit=0, window_s=60, now=NOW) is None
    assert not await redis.exists("none")


async def test_an_event_given_back_no_longer_counts(redis):  # noqa: F811
    first = await rate_window.take(redis, "w", limit=2, window_s=60, now=NOW)
    await rate_window.take(redis, "w", limit=2, window_s=60, now=NOW + 1)
    await rate_window.give_back(redis, "w", first)
    assert await rate_window.count(redis, "w", window_s=60, now=NOW + 2) == 1
    assert await rate_window.take(redis, "w", limit=2, window_s=60, now=NOW + 2)
