"""A live worker's web chat turn is not run again by another worker after Redis hung (``webchat_inflight``).

While Redis answers nobody, no lease is renewed and every one lapses; once it answers, another worker's
sweep found the live worker's lease lapsed and ran its turn a second time (the answer twice, a second
ticket). Now a lapse counts only when seen twice, a few renewal rounds apart, and the live worker's
thread sets its lease again in between.

Served in process with the page's real Socket.IO client, on a Redis server of the module's own:
``CLIENT PAUSE`` makes it answer nobody.
"""
from __future__ import annotations

import asyncio

from rasa.core.channels.channel import UserMessage

from bot import settings as settings_module
from tests.channels.test_webchat_addresses_faults import pause
from tests.channels.test_webchat_inflight import (  # noqa: F401
    Assistant, counting_looks, message, nothing_in_flight, page, secrets_in_environment, served, until, worker)
from tests.handoff.conftest import redis  # noqa: F401  the same real Redis fixture
from tests.paused_redis import redis_url  # noqa: F401,F811 - a server of its own: CLIENT PAUSE stops it all

LEASE_S = 2.5
HUNG_MS = 4000  # longer than the lease
SWEEPS_AFTER = 20  # the other worker's sweeps after the hang: 4 s at 0.2 s, four times the second look's 1 s


async def test_a_live_workers_turn_is_not_run_again_after_redis_hung_longer_than_its_lease(
        redis_url, redis, monkeypatch):  # noqa: F811
    monkeypatch.setenv("KEFU_REDIS_TIMEOUT_SECONDS", "1")
    settings_module.get_settings.cache_clear()
    gate = asyncio.Event()

    class Waiting(Assistant):
        async def __call__(self, message: UserMessage) -> None:
            self.heard.append(message)
            await gate.wait()
            await message.output_channel.send_response(message.sender_id, {"text": "您好"})

    running, other = Waiting(), Assistant()
    first, second = worker(redis_url, lease_s=LEASE_S), worker(redis_url, lease_s=LEASE_S)
    looks = counting_looks(second)
    async with served(first, running) as url, served(second, other), page(url) as chat:
        said = message(chat.session_id, "宽带又断了")
        assert await chat.sio.call("user_uttered", said, timeout=10) == {"ok": True}

        async def started() -> bool:
            return bool(running.heard)

        await until(started, what="the turn to start")
        await pause(redis_url, HUNG_MS)
        await redis.ping()  # answered once the pause is over
        answering = len(looks)

        async def swept() -> bool:  # past the second look that confirms a lapse, and then some
            return len(looks) >= answering + SWEEPS_AFTER

        await until(swept, timeout=30, what="the other worker's sweeps after the hang")
        gate.set()
        await chat.replies_until(lambda m: m.get("text") == "您好")
        await until(lambda: nothing_in_flight(redis), what="the turn to be settled")
    assert running.texts() == ["宽带又断了"] and other.texts() == [], "the live worker's turn ran again"
