"""A customer's new message on one deployment's desk reaches only that deployment's open desks.

Two Kefu deployments (production and staging) on one Redis server, each on its own database, with the same
conversation id at both (a REST client's customer id): Redis's Pub/Sub channels are the server's, not a
database's, so each save of the conversation at one woke the other's open desk stream too, which read its
transcript again for nothing. Through the real stream route of each deployment's desk (Sanic servers) and the
real notice of a save (``bot.handoff.desk_push``); PUBLISH's answer says how many desk streams were told."""
from __future__ import annotations

import json

import aiohttp
import pytest
import redis.asyncio as aioredis
from sanic import Sanic

from bot.db.repository import Repository
from bot.handoff.accounts import AccountStore
from bot.handoff.desk import Desk
from bot.handoff.desk_push import publish_paused_saves
from bot.handoff.queue import HandoffQueue, HandoffRequest
from bot.handoff.sessions import COOKIE
from tests.handoff.test_desk_first_shift import Conversations
from tests.handoff.test_recordings_across_instances import agent
from tests.sanic_served import served_desk

Sanic.test_mode = True  # several apps in the process

CUSTOMER = "rest-13900001234"  # the same customer id at both deployments


class Transcripts(Conversations):
    """One deployment's tracker store as the desk reads it: the customer's messages, in order."""

    def __init__(self, first: str) -> None:
        super().__init__()
        self.said_by_customer = [first]

    async def events(self, conversation_id: str) -> list[dict]:
        return [{"event": "user", "text": text} for text in self.said_by_customer]


class TrackerStore:
    """Stands in for Rasa's tracker store: a save of the handed-off conversation records the customer's message."""

    def __init__(self, transcripts: Transcripts) -> None:
        self.transcripts = transcripts

    async def save(self, tracker) -> None:
        self.transcripts.said_by_customer.append(tracker.latest_message)


class Tracker:
    def __init__(self, latest_message: str) -> None:
        self.sender_id, self.latest_message = CUSTOMER, latest_message

    def is_paused(self) -> bool:
        return True  # with an agent


class Deployment:
    """A desk with an agent holding ``CUSTOMER``'s conversation, on its own Redis database; ``told``: how many
    desk streams each notice of its saves reached (PUBLISH's answer)."""

    def __init__(self, redis, clock, rules, events, database_url: str, first: str) -> None:
        self.transcripts = Transcripts(first)
        self.desk = Desk(HandoffQueue(redis, clock, rules=rules, recorder=events), self.transcripts,
                         AccountStore(database_url), Repository(database_url))
        self.store = TrackerStore(self.transcripts)
        self.told: list[int] = []
        publish = redis.publish

        async def counted(channel, message):
            self.told.append(await publish(channel, message))
            return self.told[-1]

        redis.publish = counted
        publish_paused_saves(self.store, redis)

    async def agent_holds_the_conversation(self, name: str) -> str:
        token = await agent(self.desk, name, ["billing"])
        await self.desk.queue.enqueue(HandoffRequest(CUSTOMER, "rest", "billing", 1, None, {}))
        assert (await self.desk.queue.take_next(name))[1].conversation_id == CUSTOMER
        return token


async def next_turns(stream) -> list[str]:
    """The customer's words in the stream's next update."""
    while True:
        line = (await stream.content.readline()).decode()
        assert line, "the stream ended"
        if line.startswith("data: "):
            return [turn["text"] for turn in json.loads(line[len("data: "):])["turns"]]


@pytest.fixture
async def neighbour(neighbour_url):  # noqa: F811
    client = aioredis.Redis.from_url(neighbour_url)
    yield client
    await client.close()


async def test_a_save_at_one_deployment_wakes_only_its_own_desks(redis, neighbour, clock, rules, events,
                                                                  kefu_env):
    production = Deployment(redis, clock, rules, events, kefu_env.database_url, "宽带断了")
    staging = Deployment(neighbour, clock, rules, events, kefu_env.database_url, "测试一下")
    tokens = (await production.agent_holds_the_conversation("wang"),
              await staging.agent_holds_the_conversation("li"))
    async with served_desk(production.desk, "desk_production") as production_url, \
            served_desk(staging.desk, "desk_staging") as staging_url, \
            aiohttp.ClientSession(cookies={COOKIE: tokens[0]}) as production_agent, \
            aiohttp.ClientSession(cookies={COOKIE: tokens[1]}) as staging_agent, \
            production_agent.get(f"{production_url}/agent/api/conversations/{CUSTOMER}/stream") as at_production, \
            staging_agent.get(f"{staging_url}/agent/api/conversations/{CUSTOMER}/stream") as at_staging:
        assert await next_turns(at_production) == ["宽带断了"]  # each stream is open (subscribed before answering)
        assert await next_turns(at_staging) == ["测试一下"]

        await production.store.save(Tracker("路由器灯一直闪红"))
        assert await next_turns(at_production) == ["路由器灯一直闪红"], "the agent sees the new message at once"
        await staging.store.save(Tracker("测试第二条"))
        assert await next_turns(at_staging) == ["测试第二条"]
        assert production.told == [1] and staging.told == [1], \
            "a save's notice woke a desk of the other deployment"
