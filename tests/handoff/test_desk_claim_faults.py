"""接入下一位 cut off after the queue gave the agent a customer: Redis stops answering for a few seconds.

Real ``RasaConversations`` over the Redis tracker store (the stand-in processor of test_desk_proof_ends), real
queue, the desk's real HTTP route on a Sanic server; the fault is real: ``CLIENT PAUSE`` on a Redis server of
this module's own (test_desk_close_faults), so the tracker store's read times out after the claim script ran.

Found in review: the claim's reply was lost (here a 500; as well a network cut, a timeout, the server
restarting) with the customer already the agent's. The page's retry took a second customer, and the first was
never told an agent had joined: both showed in 我正在服务, one of them a customer left waiting unseen.
"""
from __future__ import annotations

import aiohttp
import pytest
import redis.asyncio as aioredis
from sanic import Sanic

from bot.db.repository import Repository
from bot.handoff import keys
from bot.handoff.accounts import AccountStore
from bot.handoff.desk import Desk
from bot.handoff.handback import HANDBACK_GRACE_S
from bot.handoff.queue import HandoffRequest
from bot.handoff.sessions import COOKIE
from bot.handoff.watcher import WaitingRoom
from tests.handoff.test_desk_close_faults import redis_answers_again, redis_stops_answering_during, waiting_for_a_person
from tests.handoff.test_desk_proof_ends import conversations, domain  # noqa: F401 - fixtures
from tests.paused_redis import redis_url  # noqa: F401,F811 - a server of its own: CLIENT PAUSE stops it all
from tests.sanic_served import served_desk

Sanic.test_mode = True  # a second app in the process (tests/handoff/test_audio_ranges.py)

JOINED = "人工客服 王芳 已为您接入"


async def agent(desk: Desk) -> str:
    """王芳 (wang) signed in, capacity 2: room for a second customer; her desk session's cookie token."""
    desk.accounts.add("wang", "wang-pass-1", ["billing"], display_name="王芳", capacity=2)
    token, _ = await desk.login("wang", "wang-pass-1")
    return token


async def two_waiting(queue, clock, conversations, first: str, second: str) -> None:  # noqa: F811
    for conversation_id in (first, second):
        await waiting_for_a_person(conversations, conversation_id)
        await queue.enqueue(HandoffRequest(conversation_id, "webchat", "billing", 1, None, {}))
        clock.advance(1)


async def said(conversations, conversation_id: str) -> list[str]:  # noqa: F811
    tracker = await conversations.agent.tracker_store.retrieve(conversation_id)
    return [e.text for e in tracker.events if e.type_name == "bot"]


async def test_a_claim_whose_reply_was_lost_is_retried_to_the_same_customer(queue, clock, kefu_env, redis, redis_url,
                                                                           conversations):  # noqa: F811
    desk = Desk(queue, conversations, AccountStore(kefu_env.database_url), Repository(kefu_env.database_url))
    token = await agent(desk)
    await two_waiting(queue, clock, conversations, "claim-lost-a", "claim-lost-b")

    redis_stops_answering_during(conversations, redis_url, "pause")
    async with served_desk(desk, "desk_claim_lost") as url, \
            aiohttp.ClientSession(cookies={COOKIE: token}, headers={"X-Kefu-Desk": "1"}) as session:
        async with session.post(f"{url}/agent/api/claim", json={"request_id": "r-7f3a9c"}) as answer:
            assert answer.status >= 500, "the reply the page gets is no customer"
        await redis_answers_again(redis)
        assert await queue.serving("wang") == ["claim-lost-a"], "the queue gave the agent the first customer"

        async with session.post(f"{url}/agent/api/claim", json={"request_id": "r-7f3a9c"}) as answer:
            assert answer.status == 200
            retried = (await answer.json())["conversation"]
        async with session.get(f"{url}/agent/api/overview") as answer:
            overview = await answer.json()

    assert retried["conversation_id"] == "claim-lost-a", "the retry answers with the customer the claim took"
    assert [e["conversation_id"] for e in overview["serving_entries"]] == ["claim-lost-a"], "one customer, not two"
    assert await queue.waiting("billing") == ["claim-lost-b"], "the next customer keeps their place"
    assert (await conversations.agent.tracker_store.retrieve("claim-lost-a")).is_paused()
    assert [t for t in await said(conversations, "claim-lost-a") if t.startswith(JOINED)] != [], "told, once"
    assert len([t for t in await said(conversations, "claim-lost-a") if t.startswith(JOINED)]) == 1


async def test_a_new_press_after_an_answered_claim_takes_the_next_customer(queue, clock, kefu_env, redis,
                                                                         conversations):  # noqa: F811
    """A request id answered is spent for a new press: the page sends a new one, and gets the next customer."""
    desk = Desk(queue, conversations, AccountStore(kefu_env.database_url), Repository(kefu_env.database_url))
    token = await agent(desk)
    await two_waiting(queue, clock, conversations, "claim-new-a", "claim-new-b")
    async with served_desk(desk, "desk_claim_new") as url, \
            aiohttp.ClientSession(cookies={COOKIE: token}, headers={"X-Kefu-Desk": "1"}) as session:
        taken = []
        for request_id in ("r-1", "r-2"):
            async with session.post(f"{url}/agent/api/claim", json={"request_id": request_id}) as answer:
                assert answer.status == 200
                taken.append((await answer.json())["conversation"]["conversation_id"])
    assert taken == ["claim-new-a", "claim-new-b"]
    assert await queue.serving("wang") == ["claim-new-a", "claim-new-b"]


@pytest.mark.parametrize("cut_off", ["pause", "join"])  # the bot paused; "an agent joined" said
async def test_a_customer_whose_claim_was_cut_off_is_told_an_agent_joined(queue, clock, kefu_env, redis, redis_url,
                                                                        conversations, cut_off):  # noqa: F811
    """Nobody retries: the waiting room finishes what the claim owed the customer (the bot paused, "an agent
    joined"), once. Before: the customer kept talking to the bot, or to a paused conversation, with nobody
    telling them an agent had them, while the agent's desk listed them."""
    desk = Desk(queue, conversations, AccountStore(kefu_env.database_url), Repository(kefu_env.database_url))
    await agent(desk)
    await two_waiting(queue, clock, conversations, f"claim-cut-{cut_off}", "claim-cut-next")

    redis_stops_answering_during(conversations, redis_url, cut_off)
    with pytest.raises(aioredis.RedisError):
        await desk.claim("wang", "王芳")
    await redis_answers_again(redis)
    assert await queue.serving("wang") == [f"claim-cut-{cut_off}"]

    room = WaitingRoom(queue, conversations)
    for _ in range(3):
        clock.advance(HANDBACK_GRACE_S)
        await room.tick()
    tracker = await conversations.agent.tracker_store.retrieve(f"claim-cut-{cut_off}")
    assert tracker.is_paused(), "the agent has the conversation, not the bot"
    told = [t for t in await said(conversations, f"claim-cut-{cut_off}") if t.startswith(JOINED)]
    assert len(told) == 1, told
    assert await queue.waiting("billing") == ["claim-cut-next"]


async def test_a_customer_told_by_the_desk_is_not_told_again(queue, clock, kefu_env, redis, conversations):  # noqa: F811
    """The desk told the customer but could not cross the join off (Redis gone at that moment, made here by
    noting it again): the waiting room finds the words said under the claim's mark and says nothing."""
    desk = Desk(queue, conversations, AccountStore(kefu_env.database_url), Repository(kefu_env.database_url))
    await agent(desk)
    await two_waiting(queue, clock, conversations, "claim-told-a", "claim-told-b")
    assert (await desk.claim("wang", "王芳"))["conversation_id"] == "claim-told-a"
    await redis.zadd(keys.joins(), {"claim-told-a": (await queue.entry("claim-told-a"))["claimed_at"]})

    room = WaitingRoom(queue, conversations)
    for _ in range(3):
        clock.advance(HANDBACK_GRACE_S)
        await room.tick()
    assert len([t for t in await said(conversations, "claim-told-a") if t.startswith(JOINED)]) == 1
    assert await redis.zscore(keys.joins(), "claim-told-a") is None, "crossed off"
