"""One call per agent, enforced where an agent takes a customer (bot.handoff.queue's claim script).

Found in review: ``CALLS_PER_AGENT`` was only counted by the wait estimate; 接入下一位 handed an agent
already on a call a second caller when the next in line was a call, and the callers behind were told a
wait that assumed otherwise. On a real Redis, through the queue and the desk an agent uses.
"""
from __future__ import annotations

import asyncio
import json

import pytest
import redis.asyncio as aioredis

from bot.channels import agent_desk
from bot.db.repository import Repository
from bot.handoff.accounts import AccountStore
from bot.handoff.agents import AgentRoster
from bot.handoff.desk import Desk, DeskError
from bot.handoff.queue import HandoffQueue, HandoffRequest
from tests.conftest import PROJECT_ROOT
from tests.handoff.test_desk_database_down import desk_request
from tests.handoff.test_desk_first_shift import Conversations
from tests.handoff.test_estimate import handled


async def waiting(queue, conversation_id: str, channel: str, *, skill: str = "general", **context) -> None:
    await queue.enqueue(HandoffRequest(conversation_id, channel, skill, 0, None, context))
    queue.clock.advance(1)


async def on_duty(redis, clock, rules, *agents: str, capacity: int = 3) -> AgentRoster:
    roster = AgentRoster(redis, clock, rules.presence_timeout_s)
    for agent in agents:
        await roster.register(agent, name=agent, skills=["general"], capacity=capacity, status="available")
    return roster


async def test_an_agent_on_a_call_gets_the_next_chat_and_the_caller_waits_for_a_free_agent(queue, redis, clock, rules):
    await on_duty(redis, clock, rules, "wang", "li")
    await waiting(queue, "ivr:first", "ivr")
    await waiting(queue, "ivr:second", "ivr")
    await waiting(queue, "chat-1", "webchat")
    assert (await queue.claim_next("wang")).conversation_id == "ivr:first"
    # On a call, below their chat limit: the chat behind the second caller, not the caller.
    assert (await queue.claim_next("wang")).conversation_id == "chat-1"
    assert await queue.waiting("general") == ["ivr:second"], "the caller keeps their place"
    assert (await queue.take_next("wang")) == ("on_a_call", None), "only a caller waits"
    # An agent with no call takes the caller, in the queue's order.
    assert (await queue.claim_next("li")).conversation_id == "ivr:second"
    # The call ends: the agent takes callers again.
    await waiting(queue, "ivr:third", "ivr")
    await queue.close("ivr:first", "wang", "resolved")
    assert (await queue.claim_next("wang")).conversation_id == "ivr:third"


async def test_a_callback_the_agent_rings_is_a_call_too(queue, redis, clock, rules):
    """A booked callback (bot.contacts.offer: its packet's ``callback``) puts the agent on the phone,
    whatever channel it was booked on."""
    await on_duty(redis, clock, rules, "wang")
    await waiting(queue, "chat-booked", "webchat", callback={"contact_id": 7, "phone": "13900001234"})
    await waiting(queue, "ivr:caller", "ivr")
    await waiting(queue, "chat-2", "webchat")
    assert (await queue.claim_next("wang")).conversation_id == "chat-booked"
    assert (await queue.claim_next("wang")).conversation_id == "chat-2", "ringing a customer: no caller"
    await queue.close("chat-booked", "wang", "resolved")
    await queue.close("chat-2", "wang", "resolved")
    await queue.claim_next("wang")  # the caller
    await waiting(queue, "wechat-booked", "wechat", callback={"contact_id": 8, "phone": "13900005678"})
    assert (await queue.take_next("wang")) == ("on_a_call", None), "on a call: no callback to ring"


async def test_two_desks_of_one_agent_cannot_both_take_a_call(queue, redis_url, redis, clock, rules, events):
    """The rule is in the claim script: two processes (two desks of the agent) claiming at once get one
    call between them, the other gets the chat."""
    await on_duty(redis, clock, rules, "wang")
    for n in range(3):
        await waiting(queue, f"ivr:c{n}", "ivr")
    await waiting(queue, "chat-1", "webchat")
    clients = [aioredis.Redis.from_url(redis_url) for _ in range(2)]
    desks = [HandoffQueue(client, clock, rules=rules, recorder=events) for client in clients]
    try:
        taken = await asyncio.gather(*(desk.claim_next("wang") for desk in desks))
    finally:
        for client in clients:
            await client.close()
    assert sorted(t.conversation_id for t in taken) == ["chat-1", "ivr:c0"]
    assert await queue.waiting("general") == ["ivr:c1", "ivr:c2"]


@pytest.fixture
def desk(queue, kefu_env):
    accounts = AccountStore(kefu_env.database_url)
    accounts.add("wang", "wang-pass-1", ["general"])
    return Desk(queue, Conversations(), accounts, Repository(kefu_env.database_url))


async def test_the_desk_tells_an_agent_on_a_call_that_only_callers_wait(desk, queue, redis, clock, rules):
    token, _ = await desk.login("wang", "wang-pass-1")
    await on_duty(redis, clock, rules, "wang")
    await waiting(queue, "ivr:first", "ivr")
    await waiting(queue, "ivr:second", "ivr")
    assert (await desk.claim("wang", "王芳"))["conversation_id"] == "ivr:first"
    with pytest.raises(DeskError) as refused:
        await desk.claim("wang", "王芳")
    assert (refused.value.code, refused.value.status) == ("error_on_a_call", 409)
    # 接入下一位 at the desk's endpoint: the code the page shows, and a text for it.
    answer = await agent_desk.claim(desk_request(desk, token, "/agent/api/claim"))
    assert answer.status == 409 and json.loads(answer.body)["error"] == "error_on_a_call"
    shown = json.loads((PROJECT_ROOT / "content" / "ui" / "agent_desk.zh.json").read_text(encoding="utf-8"))
    assert "通话" in shown.get("error_on_a_call", ""), "the desk page has no text for the code"
    assert await queue.waiting("general") == ["ivr:second"], "the caller keeps their place"
    await queue.close("ivr:first", "wang", "resolved")
    assert (await desk.claim("wang", "王芳"))["conversation_id"] == "ivr:second"


async def test_a_caller_behind_chats_is_not_told_to_wait_for_them(queue, redis, clock, rules):
    """Calls and chats share the queue, not the slots: an agent of chat capacity 3 with nothing to do
    takes two chats and the caller behind them at once (the estimate counted the chats as calls ahead:
    2 x 240 s, "约8分钟"). Agents of capacity 1 have no chat slot beside their line: there the chats
    ahead do take the caller's slots."""
    await on_duty(redis, clock, rules, "wang")
    await handled(queue, "general", 240.0)
    await waiting(queue, "chat-1", "webchat")
    await waiting(queue, "chat-2", "webchat")
    caller = await queue.enqueue(HandoffRequest("ivr:caller", "ivr", "general", 0, None, {}))
    assert (caller.position, caller.estimated_wait_s) == (3, 0.0)
    assert await queue.estimated_wait("general", "ivr") == 240.0, "a 2nd caller waits for the line"
    await redis.flushdb()
    await on_duty(redis, clock, rules, "a1", "a2", capacity=1)
    await handled(queue, "general", 240.0)
    await waiting(queue, "chat-1", "webchat")
    await waiting(queue, "chat-2", "webchat")
    assert await queue.estimated_wait("general", "ivr") == 120.0  # both agents take a chat: 1st release of 2


async def test_a_chat_behind_callers_agents_on_a_call_pass_over_is_told_the_shortest_wait(queue, redis, clock, rules):
    """2 agents of capacity 3, each on a call, 6 callers waiting: an agent pressing 接入下一位 takes
    the chat behind them at once, so it is told so (the estimate put it 7th for 6 chat slots, 4 free:
    3 x 240 / 6 = 120 s)."""
    await on_duty(redis, clock, rules, "wang", "li")
    await handled(queue, "general", 240.0)
    for agent in ("wang", "li"):
        await waiting(queue, f"ivr:on-{agent}", "ivr")
        await queue.claim_next(agent)
    for n in range(6):
        await waiting(queue, f"ivr:w{n}", "ivr")
    chat = await queue.enqueue(HandoffRequest("chat-1", "webchat", "general", 0, None, {}))
    assert (chat.position, chat.estimated_wait_s) == (7, 0.0)
    assert (await queue.claim_next("wang")).conversation_id == "chat-1", "what the estimate promised"
