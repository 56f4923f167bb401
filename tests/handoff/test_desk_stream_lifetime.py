"""A conversation's stream on the desk ends by itself after ``STREAM_MAX_S`` and the page opens the next.

Its check-ins vouch for the agent: a desk whose network vanished without a word (no FIN, no RST) kept its
last stream checking in until TCP gave up, about a quarter of an hour, and their customers waited that
much longer for an agent who was gone. Through the real HTTP route, on a Sanic server."""
from __future__ import annotations

import asyncio
import time

import aiohttp
from sanic import Sanic

from bot.channels import agent_desk
from bot.handoff.queue import HandoffRequest
from bot.handoff.sessions import COOKIE
from tests.handoff.test_recordings_across_instances import agent, desk  # noqa: F401 - fixtures
from tests.sanic_served import served_desk

Sanic.test_mode = True  # a second app in the process (tests/handoff/test_audio_ranges.py)


async def test_an_open_stream_ends_by_itself_and_not_as_an_ended_conversation(desk, monkeypatch):  # noqa: F811
    token = await agent(desk, "wang", ["billing"])
    await desk.queue.enqueue(HandoffRequest("stream-life-1", "webchat", "billing", 1, None, {}))
    assert (await desk.queue.take_next("wang"))[1].conversation_id == "stream-life-1"
    monkeypatch.setattr(agent_desk, "STREAM_MAX_S", 1.0)
    async with served_desk(desk, "desk_stream_life") as url, \
            aiohttp.ClientSession(cookies={COOKIE: token}) as session:
        started = time.monotonic()
        async with session.get(f"{url}/agent/api/conversations/stream-life-1/stream") as answer:
            assert answer.status == 200
            body = await asyncio.wait_for(answer.read(), timeout=30)
        lasted = time.monotonic() - started
    assert lasted < agent_desk.STREAM_KEEPALIVE_S  # not held for a keep-alive period past its end
    assert b"event: ended" not in body  # the conversation is still the agent's: the page opens the next
    assert (await desk.queue.entry("stream-life-1"))["state"] == "claimed"
