"""The waiting room after Redis was down for longer than an agent's presence lasts (``presence_timeout_s``).

A real Redis of this module's own, stopped and started again on its data (append-only file, as Kefu's embedded
Redis keeps it); real ``RasaConversations`` over the Redis tracker store (the stand-in processor of
test_desk_proof_ends), real queue and roster. The clock is the test's: the outage lasts 90 s of it.

Found in review: while Redis was down no desk could check in, so on the waiting room's first pass after it every
agent's presence had run out: every waiting customer was told nobody was available (book a callback...), then,
a desk's next check-in later, that agents were back; and past ``agent_gone_after_s`` every agent's customers were
taken from them and put back in the queue.
"""
from __future__ import annotations

import time

import pytest
import redis.asyncio as aioredis

from bot.embedded_redis import EmbeddedRedis
from bot.handoff.queue import HandoffQueue, HandoffRequest
from bot.handoff.watcher import WaitingRoom
from bot.redis_reconnect import reconnecting
from tests.handoff.test_desk_close_faults import waiting_for_a_person
from tests.handoff.test_desk_proof_ends import conversations, domain  # noqa: F401 - fixtures

NOBODY = "目前没有人工客服在线"
BACK = "现在有人工客服在线了"


class Restartable:
    """An embedded Redis the test stops and starts again, on the same port and data."""

    def __init__(self, folder) -> None:
        self.folder = folder
        self.server = EmbeddedRedis(folder, aof_rewrite_s=0).start()
        self.port = self.server.port

    @property
    def url(self) -> str:
        return self.server.url

    def stop(self) -> None:
        self.server.stop()

    def start_again(self) -> None:
        self.server = EmbeddedRedis(self.folder, port=self.port, aof_rewrite_s=0).start()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = Restartable(tmp_path_factory.mktemp("restarted-redis"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def redis_url(server):
    return server.url


@pytest.fixture
async def redis(redis_url):
    """As conftest's, on a client that reconnects after the restart, as Kefu's do."""
    client = aioredis.Redis.from_url(redis_url, **reconnecting(1))
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.close()


@pytest.fixture
def queue(redis, clock, rules, events):
    return HandoffQueue(redis, clock, rules=rules, recorder=events)


async def said(conversations, conversation_id: str) -> list[str]:  # noqa: F811
    tracker = await conversations.agent.tracker_store.retrieve(conversation_id)
    return [e.text for e in tracker.events if e.type_name == "bot"]


async def one_waiting_behind_a_busy_agent(queue, conversations) -> WaitingRoom:  # noqa: F811
    """王芳 serves one customer (her one slot); a second waits, told their place; the waiting room's first pass."""
    for conversation_id in ("outage-served", "outage-waiting"):
        await waiting_for_a_person(conversations, conversation_id)
    queue.clock.now = time.time()  # the customers' "转人工" is before their wait began
    await queue.roster.register("wang", name="王芳", skills=["billing"], capacity=1, status="available")
    for conversation_id in ("outage-served", "outage-waiting"):
        await queue.enqueue(HandoffRequest(conversation_id, "webchat", "billing", 1, None, {}))
        queue.clock.advance(1)
    assert (await queue.take_next("wang"))[1].conversation_id == "outage-served"
    room = WaitingRoom(queue, conversations)
    await room.tick()
    return room


async def redis_down_for(server, room: WaitingRoom, seconds: float) -> None:
    """Redis stops; the waiting room's passes fail meanwhile (no desk can check in either); it starts again."""
    server.stop()
    for _ in range(3):
        room.queue.clock.advance(seconds / 3)
        with pytest.raises(aioredis.RedisError):
            await room.tick()
    server.start_again()


async def test_no_nobody_there_then_agents_back_after_a_long_redis_outage(server, queue, clock,
                                                                          conversations):  # noqa: F811
    room = await one_waiting_behind_a_busy_agent(queue, conversations)
    before = await said(conversations, "outage-waiting")

    await redis_down_for(server, room, 90)
    await room.tick()  # the first pass after
    clock.advance(2)
    await queue.roster.heartbeat("wang")  # her desk's next check-in
    await room.tick()

    assert await said(conversations, "outage-waiting") == before, "neither 'nobody is there' nor 'agents are back'"
    assert await queue.serving("wang") == ["outage-served"], "her customer is still hers"


@pytest.mark.usefixtures("agents_in_all_day")  # "nobody online" as said in the daytime
async def test_agents_who_do_not_come_back_after_the_outage_are_taken_for_absent(server, queue, clock,
                                                                                 conversations):  # noqa: F811
    """The grace is a grace: a desk that has not checked in a minute after Redis came back is not there."""
    room = await one_waiting_behind_a_busy_agent(queue, conversations)
    await redis_down_for(server, room, 90)
    for _ in range(35):
        clock.advance(2)
        await room.tick()
    told = [t for t in await said(conversations, "outage-waiting") if t.startswith(NOBODY)]
    assert len(told) == 1, "told once that nobody is available"
    assert not [t for t in await said(conversations, "outage-waiting") if t.startswith(BACK)]


async def test_an_agents_customers_stay_hers_after_an_outage_longer_than_agent_gone_after(server, queue, clock,
                                                                                       conversations):  # noqa: F811
    room = await one_waiting_behind_a_busy_agent(queue, conversations)
    await redis_down_for(server, room, queue.rules.agent_gone_after_s + 30)
    await room.tick()  # the first pass after: the departures' check runs
    clock.advance(2)
    await queue.roster.heartbeat("wang")
    clock.advance(10)
    await room.tick()
    assert await queue.serving("wang") == ["outage-served"], "not taken from her and queued again"
    assert await queue.waiting("billing") == ["outage-waiting"]


@pytest.mark.parametrize("channel", ["webchat", "rest"])
async def test_a_waiting_customer_keeps_their_place_after_an_outage_longer_than_their_grace(
        server, queue, clock, conversations, channel):  # noqa: F811
    """Found in review: no page could say it was still open, nor a REST client be heard, while Redis was down; past
    the channel's grace (``webchat_gone_grace_s``, ``rest_silence_grace_s``) the first pass after took every waiting
    customer for gone and ended their wait. They get the same grace as the agents' desks to be heard again."""
    from bot.handoff.presence import mark_customer_seen, page_alive

    await waiting_for_a_person(conversations, "outage-grace")
    clock.now = time.time()
    await queue.enqueue(HandoffRequest("outage-grace", channel, "billing", 1, None, {}))
    if channel == "webchat":
        await mark_customer_seen(queue.redis, "outage-grace", clock.now)
        await page_alive(queue.redis, "outage-grace", "page-1", clock.now)
    room = WaitingRoom(queue, conversations)
    await room.tick()
    grace = room.settings.grace_for(channel)

    await redis_down_for(server, room, grace + 60)
    await room.tick()  # the first pass after
    assert await queue.waiting("billing") == ["outage-grace"], "still waiting"

    for _ in range(40):  # nobody is heard from again: after the grace, gone as before
        clock.advance(2)
        await room.tick()
    assert await queue.waiting("billing") == []
