"""An ended call gives its place back at once, not after its clean-up has written to Redis and the database.

Found in review: the channel released a call's place only once the call's clean-up (the queue entry, the call
state, the ended record) had been written, so with Redis or the database slow every call that had ended kept
its place that long and new callers were refused as busy on a line with nobody on it. (A far end that drops
the connection freed it sooner, by Sanic cancelling the handler; a carrier's ``stop`` with the socket left for
Kefu to close, and every end Kefu decides, waited for the clean-up.) The faults are real: ``CLIENT PAUSE`` makes
the test's own Redis server (tests/paused_redis.py) answer nobody for a moment, as a Redis stalled by a fork or a
failover does, shorter than Kefu's command timeout; another connection holds the database's write lock, as a
long import or a stuck transaction does. Real streams against the real channel, served in process.
"""
from __future__ import annotations

import asyncio
import contextlib
import sqlite3

import pytest
import sqlalchemy as sa

from tests.handoff.conftest import redis  # noqa: F401  the real Redis fixtures, on the server below
from tests.ivr.simulator import PhoneCall
from tests.ivr.test_unvouched_places import BUSY, answered, hang_up, live, phone_settings, served_channel  # noqa: F401
from tests.paused_redis import redis_url  # noqa: F401,F811 - a server of its own: CLIENT PAUSE stops it all

pytestmark = pytest.mark.realtime

PAUSE_MS = 2000  # Redis answers nobody this long: less than the 5 s command timeout set below


@pytest.fixture
def patient_redis(monkeypatch):
    """Kefu waits for Redis longer than the pause: a stall, not a failure (read when phone_settings loads)."""
    monkeypatch.setenv("KEFU_REDIS_TIMEOUT_SECONDS", "5")


async def test_a_call_ended_while_redis_stalls_does_not_keep_the_next_caller_out(
        patient_redis, phone_settings, redis):  # noqa: F811
    calls: list[PhoneCall] = []
    async with served_channel({"max_calls": 1}, redis) as (_, url):  # one place, as a full hotline has none spare
        try:
            first = await answered(PhoneCall(url, caller="13900000001"))
            calls.append(first)
            await redis.execute_command("CLIENT", "PAUSE", PAUSE_MS, "ALL")
            await first.stop()  # the caller hangs up: its clean-up now waits for Redis, the socket for Kefu
            second = PhoneCall(url, caller="13900000002")
            calls.append(second)
            await second.__aenter__()  # its start reaches the line while the first call's clean-up waits
            await second.wait_for(lambda: second.closed_at is not None or second.media_count() > 0, 30,
                                  "the greeting or the end of the call")
            assert second.closed_at is None, f"the caller was refused ({second.close_code}, {BUSY} is busy)"
        finally:
            await hang_up(calls)


@contextlib.contextmanager
def database_write_locked(url: str):
    """Another connection holds the write lock of the (SQLite: ``kefu_env``'s) database until the block ends."""
    holder = sqlite3.connect(sa.engine.make_url(url).database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # writers wait (the busy timeout), readers go on
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


async def test_a_call_whose_ended_record_waits_for_the_database_does_not_keep_the_next_caller_out(
        phone_settings, redis):  # noqa: F811
    calls: list[PhoneCall] = []
    async with served_channel({"max_calls": 1}, redis) as (_, url):
        try:
            first = await answered(PhoneCall(url, caller="13900000001"))
            calls.append(first)
            with database_write_locked(phone_settings.database_url):
                await first.stop()
                # its state is gone from Redis: all that is left of it is its record, waiting for the database
                deadline = asyncio.get_running_loop().time() + 10
                while first.stream_sid in await live(redis):
                    assert asyncio.get_running_loop().time() < deadline, "the first call never ended"
                    await asyncio.sleep(0.05)
                second = PhoneCall(url, caller="13900000002")
                calls.append(second)
                await second.__aenter__()
                deadline = asyncio.get_running_loop().time() + 10
                while second.closed_at is None and second.stream_sid not in await live(redis):
                    assert asyncio.get_running_loop().time() < deadline, "the second call was neither taken nor refused"
                    await asyncio.sleep(0.05)
                assert second.closed_at is None, f"the caller was refused ({second.close_code}, {BUSY} is busy)"
            await second.wait_media(30)  # the greeting, once the database writes again
        finally:
            await hang_up(calls)


@pytest.fixture
def impatient_redis(monkeypatch):
    """Kefu gives up on Redis long before the pause ends: an outage, not a stall."""
    monkeypatch.setenv("KEFU_REDIS_TIMEOUT_SECONDS", "0.5")


async def test_a_call_that_ends_while_redis_does_not_answer_is_recorded_as_ended(
        impatient_redis, phone_settings, redis):  # noqa: F811
    """Found by CI: a Redis read timing out in a call's clean-up left the call with no ``ivr_call_ended``, so the
    reports saw it start and never end. The end is recorded with its reason; its state's keys expire."""
    from bot.handoff.tickets import repository
    from tests.ivr.conftest import ended

    async with served_channel({"max_calls": 1}, redis) as (_, url):
        call = await answered(PhoneCall(url, caller="13900000001"))
        try:
            await redis.execute_command("CLIENT", "PAUSE", 3 * PAUSE_MS, "ALL")
            await call.stop()  # the caller hangs up: every Redis command of its clean-up times out
            assert (await ended(repository(), call.stream_sid))["reason"] == "caller"
        finally:
            await hang_up([call])
