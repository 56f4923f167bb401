"""Streams nobody vouched for are started at most ``KEFU_PHONE_UNVOUCHED_CALLS_PER_ADDRESS_PER_MINUTE`` times a
minute from one client address.

Found in review: the unvouched share of places caps how many such calls run at once, not how many one client
starts. A script starting a stream and hanging up at once, again and again, ran a flow each time and left a
marker of each stream id in Redis for a week (the duplicate check), an outcome record and its events in the
database: from one address, without end, until a full Redis (``noeviction``) stopped every channel. Real
WebSocket streams against the real channel, as in tests/ivr/test_unvouched_places.py.
"""
from __future__ import annotations

import pytest

from tests.handoff.conftest import redis, redis_url  # noqa: F401  the same real Redis fixtures
from tests.ivr.simulator import PhoneCall
from tests.ivr.test_unvouched_places import (BUSY, answered, counted_since, hang_up, phone_settings,  # noqa: F401
                                             refusals, refused, served_channel, vouched)

pytestmark = pytest.mark.realtime

PER_MINUTE = 3


@pytest.fixture
def limited(phone_settings, monkeypatch):  # noqa: F811
    from bot import settings as settings_module

    monkeypatch.setenv("KEFU_PHONE_UNVOUCHED_CALLS_PER_ADDRESS_PER_MINUTE", str(PER_MINUTE))
    settings_module.get_settings.cache_clear()
    return settings_module.get_settings()


async def test_one_address_starting_unvouched_streams_again_and_again_is_refused_past_its_minutes_share(
        limited, redis):  # noqa: F811
    from bot.ivr.call_state import CallStore

    calls: list[PhoneCall] = []
    before = refusals()
    async with served_channel({"max_calls": 10}, redis) as (channel, url):
        try:
            for n in range(PER_MINUTE):  # one at a time: the places are never what refuses them
                call = await answered(PhoneCall(url, caller=f"1390000000{n}"))
                await call.close()
            extra = PhoneCall(url, caller="13900000009")
            calls.append(extra)
            assert await refused(extra) == BUSY
            assert await CallStore(redis).claim(extra.stream_sid)  # its id was not kept for a week
            assert counted_since(before) == {"unvouched_rate": 1}
            # the carrier's calls from the same address are not counted, nor held back
            calls.append(await answered(PhoneCall(url, caller="13800000001", parameters=vouched(limited))))
            assert channel.places.vouched == 1
        finally:
            await hang_up(calls)


async def test_the_limit_is_off_at_zero(phone_settings, redis, monkeypatch):  # noqa: F811
    from bot import settings as settings_module

    monkeypatch.setenv("KEFU_PHONE_UNVOUCHED_CALLS_PER_ADDRESS_PER_MINUTE", "0")
    settings_module.get_settings.cache_clear()
    async with served_channel({"max_calls": 10}, redis) as (_, url):
        for n in range(PER_MINUTE + 2):
            call = await answered(PhoneCall(url, caller=f"1390000000{n}"))
            await call.close()
