"""The customer asks for a person and Redis stops answering just after the request was written.

The fault is real: ``CLIENT PAUSE`` makes the Redis server answer nobody for a few seconds, longer than
the queue client's command timeout (``KEFU_REDIS_TIMEOUT_SECONDS``), right after the enqueue script ran
and before the place in line was read.

Found in a fault review: the customer was told no agent could be reached (with a callback offered) and
the conversation was not paused, yet their request stayed in the queue unseen: the waiting room answered
their messages beside the assistant (a 预约回电 pressed was booked by both), and an agent was handed a
customer who had been told nobody would come.
"""
from __future__ import annotations

import redis.asyncio as aioredis

from bot.handoff.agents import AgentRoster
from bot.handoff.queue import HandoffQueue, HandoffRequest
from bot.redis_reconnect import reconnecting
from tests.action_tests.conftest import run_action, with_redis  # noqa: F401 - fixtures
from tests.action_tests.trackers import load_tracker
from tests.paused_redis import redis_url  # noqa: F401,F811 - a server of its own: CLIENT PAUSE stops it all

PAUSE_MS = 3000  # longer than the queue client's 2 s command timeout


def redis_stops_answering_before_the_place_is_read(monkeypatch, redis_url: str) -> None:
    real = HandoffQueue.position

    async def faulty(self, conversation_id: str):
        monkeypatch.setattr(HandoffQueue, "position", real)
        client = aioredis.Redis.from_url(redis_url)
        try:
            await client.execute_command("CLIENT", "PAUSE", PAUSE_MS, "ALL")
        finally:
            await client.close()
        return await real(self, conversation_id)

    monkeypatch.setattr(HandoffQueue, "position", faulty)


async def test_a_customer_told_no_agent_can_be_reached_is_not_left_in_the_queue(run_action, with_redis,  # noqa: F811
                                                                             redis_url, monkeypatch, events):
    await AgentRoster(with_redis).register("a1", name="王芳", skills=["tv"], capacity=1, status="available")
    sender = "request-fault-1"
    redis_stops_answering_before_the_place_is_read(monkeypatch, redis_url)
    turn = await run_action("action_request_human", load_tracker("selfhelp_denied", text="转人工",
                                                                  intent="request_human", sender=sender))
    assert turn.responses == ["utter_handoff_unavailable"]
    assert not any(e["event"] == "pause" for e in turn.events)

    queue = HandoffQueue(with_redis, recorder=events)
    entry = await queue.entry(sender)
    assert entry is None or entry["state"] != "waiting", "told nobody can be reached, yet waiting in line"
    for skill in queue.rules.skills:
        assert sender not in await queue.waiting(skill)
    from bot.db.repository import Repository
    from bot.settings import get_settings

    kinds = [e["kind"] for e in Repository(get_settings().database_url).events_for(sender)]
    assert not {"handoff_queued", "handoff_abandoned"} & set(kinds), "as a request that was never written"


async def test_a_customer_already_in_line_who_asks_again_keeps_their_place(redis_url, redis, clock, rules, events,
                                                                          monkeypatch):
    client = aioredis.Redis.from_url(redis_url, **reconnecting())
    queue = HandoffQueue(client, clock, rules=rules, recorder=events)
    request = HandoffRequest("request-fault-2", "webchat", "tv", 0, None, {})
    await queue.enqueue(request)
    first = (await queue.entry("request-fault-2"))["enqueued_at"]
    clock.advance(30)
    redis_stops_answering_before_the_place_is_read(monkeypatch, redis_url)
    try:
        await queue.enqueue(request)
    except aioredis.RedisError:
        pass
    entry = await queue.entry("request-fault-2")
    assert entry["state"] == "waiting" and entry["enqueued_at"] == first
    assert await queue.waiting("tv") == ["request-fault-2"]
    assert events.kinds("request-fault-2") == ["handoff_queued"]
    await client.close()
