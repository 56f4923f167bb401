"""One client address holds at most ``KEFU_PHONE_UNVOUCHED_CALLS_PER_ADDRESS`` unvouched calls at once.

Found in review: the unvouched share of places (tests/ivr/test_unvouched_places.py) and the starts a minute
(tests/ivr/test_unvouched_starts_per_address.py) left one address free to hold every unvouched place — 10 of
50 by default — for up to 30 minutes each: a held call keeps its place while it waits in the queue, and a
script starts the next one well within its minute's budget. The softphone's callers elsewhere heard busy.
The count is kept in Redis for every process, one lease per call that its process renews (a dead process's
calls stop counting) and gives back when the call ends. Real WebSocket streams against the real channel.
"""
from __future__ import annotations

import time

import pytest

from tests.handoff.conftest import redis, redis_url  # noqa: F401  the same real Redis fixtures
from tests.ivr.simulator import PhoneCall
from tests.ivr.test_unvouched_places import (BUSY, answered, counted_since, hang_up, phone_settings,  # noqa: F401
                                             refusals, refused, served_channel, vouched)

pytestmark = pytest.mark.realtime

AT_ONCE = 2
ROOMY = {"max_calls": 10, "max_unvouched_calls": 6}  # the share of places is never what refuses them here


@pytest.fixture
def capped(phone_settings, monkeypatch):  # noqa: F811
    from bot import settings as settings_module

    monkeypatch.setenv("KEFU_PHONE_UNVOUCHED_CALLS_PER_ADDRESS", str(AT_ONCE))
    settings_module.get_settings.cache_clear()
    return settings_module.get_settings()


async def test_one_address_holding_its_unvouched_calls_is_busy_for_another_until_one_ends(capped, redis):  # noqa: F811
    calls: list[PhoneCall] = []
    before = refusals()
    async with served_channel(ROOMY, redis) as (channel, url):
        try:
            held = [await answered(PhoneCall(url, caller=f"1390000000{n}")) for n in range(AT_ONCE)]
            calls += held  # silent from here on: they keep their places
            extra = PhoneCall(url, caller="13900000009")
            calls.append(extra)
            assert await refused(extra) == BUSY
            assert counted_since(before) == {"unvouched_address": 1}
            assert all(call.closed_at is None for call in held), "a call the address held was ended"
            assert channel.places.unvouched == AT_ONCE  # places are left, for callers at other addresses
            # the carrier's calls from the same address are not counted, nor held back
            calls.append(await answered(PhoneCall(url, caller="13800000001", parameters=vouched(capped))))
            await held[0].close()  # one ends: the address may start another
            await until_counted(redis, AT_ONCE - 1)
            calls.append(await answered(PhoneCall(url, caller="13900000008")))
        finally:
            await hang_up(calls)


async def test_the_calls_of_a_process_that_died_stop_counting(capped, redis):  # noqa: F811
    from bot.channels.webchat_addresses import STALE_S, connections_key
    from bot.channels.ivr import UNVOUCHED_CALLS_PREFIX

    # Leases of calls whose process died (nobody renewed them for longer than STALE_S), at this test's address.
    dead = (time.time() - STALE_S - 5) * 1000
    await redis.zadd(connections_key("127.0.0.1", UNVOUCHED_CALLS_PREFIX), {f"MZdead{n}": dead for n in range(AT_ONCE)})
    calls: list[PhoneCall] = []
    async with served_channel(ROOMY, redis) as (_, url):
        try:
            for n in range(AT_ONCE):
                calls.append(await answered(PhoneCall(url, caller=f"1390000000{n}")))
        finally:
            await hang_up(calls)


async def test_the_limit_is_off_at_zero(phone_settings, redis, monkeypatch):  # noqa: F811
    from bot import settings as settings_module

    monkeypatch.setenv("KEFU_PHONE_UNVOUCHED_CALLS_PER_ADDRESS", "0")
    settings_module.get_settings.cache_clear()
    calls: list[PhoneCall] = []
    async with served_channel(ROOMY, redis) as (_, url):
        try:
            for n in range(AT_ONCE + 2):
                calls.append(await answered(PhoneCall(url, caller=f"1390000000{n}")))
        finally:
            await hang_up(calls)


async def until_counted(redis, count: int, timeout_s: float = 10) -> None:  # noqa: F811
    """Until the test's address holds ``count`` unvouched calls in Redis (an ended one is given back as its
    call ends, beside its clean-up), or ``timeout_s``."""
    import asyncio

    from bot.channels.ivr import UNVOUCHED_CALLS_PREFIX
    from bot.channels.webchat_addresses import connections_key

    deadline = asyncio.get_running_loop().time() + timeout_s
    key = connections_key("127.0.0.1", UNVOUCHED_CALLS_PREFIX)
    while await redis.zcard(key) > count and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
