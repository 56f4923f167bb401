"""What an agent says to a caller reaches only the phone processes of the agent's own deployment.

Two Kefu deployments (production and staging) on one Redis server, each on its own database: Redis's Pub/Sub
channels are the server's, not a database's, and every IVR process's pattern subscription (``bot.ivr.line``)
heard the other deployment's call lines too: a call of the same id there (a replayed test call, a carrier's
id reused across accounts) spoke the other deployment's agent's words to its caller. Through the real output
channel an agent's message leaves by (``IvrLineOutput``) and each deployment's real ``CallLines``."""
from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from bot.ivr.line import CallLines, conversation_id
from bot.ivr.line_output import IvrLineOutput
from tests.handoff.conftest import neighbour_url, redis, redis_url  # noqa: F401  the same real Redis fixtures

CALL = "CA0123456789abcdef"


@pytest.fixture
async def neighbour(neighbour_url):  # noqa: F811
    client = aioredis.Redis.from_url(neighbour_url)
    yield client
    await client.close()


class Caller:
    """The call as one deployment's phone process holds it: what it was told to speak, in order."""

    def __init__(self, lines: CallLines) -> None:
        self.heard: asyncio.Queue = asyncio.Queue()
        lines.attach(CALL, self.heard.put)

    async def next_words(self) -> str:
        return (await asyncio.wait_for(self.heard.get(), 10))["message"]["text"]


async def test_an_agents_words_are_spoken_only_on_their_own_deployments_call(redis, neighbour):  # noqa: F811
    production_lines, staging_lines = await CallLines(redis).start(), await CallLines(neighbour).start()
    try:
        at_production, at_staging = Caller(production_lines), Caller(staging_lines)
        await IvrLineOutput(redis).send_text_message(conversation_id(CALL), "您好，我是人工客服小王")
        assert await at_production.next_words() == "您好，我是人工客服小王"
        # Then each deployment's agent speaks in turn: what the other's line had brought its caller came first.
        await IvrLineOutput(neighbour).send_text_message(conversation_id(CALL), "测试环境：请稍候")
        assert await at_staging.next_words() == "测试环境：请稍候", "production's agent was heard at staging"
        await IvrLineOutput(redis).send_text_message(conversation_id(CALL), "请问还有什么可以帮您")
        assert await at_production.next_words() == "请问还有什么可以帮您", \
            "staging's agent was heard at production"
    finally:
        await production_lines.stop()
        await staging_lines.stop()
