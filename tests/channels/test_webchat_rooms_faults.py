"""A reply to a page on the worker that sends it does not wait for Redis (``RoomsAcrossWorkers``).

Found in a fault review: with Redis hung (stopped, a network partition: it refuses nothing) every
message to a web-chat page waited ``KEFU_REDIS_TIMEOUT_SECONDS`` for its publish on the rooms channel
before it was delivered to the page connected to the same worker: a turn's three messages came one
timeout apart, and a new session's confirmation two timeouts late (the whole-stack fault test measured
6 s of a 14 s apology turn). Now a worker delivers to its own sockets at once and publishes for the
other workers beside the turn.

Served in process with the page's real Socket.IO client, on a Redis server of the module's own:
``CLIENT PAUSE`` makes it answer nobody.
"""
from __future__ import annotations

import time

from rasa.core.channels.channel import UserMessage

from bot import settings as settings_module
from tests.channels.test_webchat_addresses import channel_with
from tests.channels.test_webchat_addresses_faults import TIMEOUT_S, pause
from tests.channels.test_webchat_inflight import Assistant, page, secrets_in_environment, served  # noqa: F401
from tests.channels.test_webchat_rooms import heard_after_marker
from tests.handoff.conftest import redis  # noqa: F401  the same real Redis fixture
from tests.paused_redis import redis_url  # noqa: F401,F811 - a server of its own: CLIENT PAUSE stops it all

PARTS = ["您好", "请问是哪里的宽带？", "我帮您查一下"]


class ThreeParts(Assistant):
    """Answers with three messages, as a turn that says a few things does."""

    async def __call__(self, message: UserMessage) -> None:
        self.heard.append(message)
        for text in PARTS:
            await message.output_channel.send_response(message.sender_id, {"text": text})


async def test_with_redis_hung_a_turn_s_replies_reach_the_page_on_the_same_worker_without_waiting_for_it(
        redis_url, redis, monkeypatch):  # noqa: F811
    monkeypatch.setenv("KEFU_REDIS_TIMEOUT_SECONDS", str(TIMEOUT_S))
    settings_module.get_settings.cache_clear()
    async with served(channel_with(redis_url), ThreeParts()) as url, page(url) as chat:
        await pause(redis_url)
        started = time.monotonic()
        await chat.sio.emit("user_uttered", {"message": "宽带断了", "session_id": chat.session_id})
        replies = await chat.replies_until(lambda m: m.get("text") == PARTS[-1], timeout=10)
        took = time.monotonic() - started
        # Before the turn the message still waits for Redis once (taken once, its rate, the page seen: side
        # by side); its three replies waited one timeout each for their publish on top.
        assert [r.get("text") for r in replies] == PARTS
        assert took < 2 * TIMEOUT_S, f"with Redis hung, the turn's replies took {took:.1f} s to reach the page"

        await redis.ping()  # the pause is over
        assert await heard_after_marker(redis, chat, chat.session_id) == [], "a reply came again after Redis answered"
