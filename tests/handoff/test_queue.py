"""Queue semantics on a real Redis: priority, FIFO, atomic claims, restarts, KPI events."""
from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from bot.handoff.agents import AgentRoster
from bot.handoff.joined import told
from bot.handoff.queue import HandoffError, HandoffQueue, HandoffRequest, NotYourConversation
from tests.handoff.conftest import Events


def request(conversation_id: str, skill: str = "tv", priority: int = 0, **context) -> HandoffRequest:
    return HandoffRequest(conversation_id=conversation_id, channel="webchat", skill=skill, priority=priority,
                          customer_id=None, context=context)


async def test_higher_priority_first_then_first_come_first_served(queue, clock):
    for name, priority in [("a", 0), ("b", 0), ("vip", 2), ("c", 0), ("repeat", 1)]:
        await queue.enqueue(request(name, priority=priority))
        clock.advance(1)
    assert await queue.waiting("tv") == ["vip", "repeat", "a", "b", "c"]
    assert (await queue.position("a")).position == 3
    served = [(await queue.claim_next(f"agent{i}")).conversation_id for i in range(5)]
    assert served == ["vip", "repeat", "a", "b", "c"]
    assert await queue.claim_next("agent9") is None


async def test_enqueue_again_keeps_the_place_and_claimed_is_position_zero(queue, clock):
    await queue.enqueue(request("a"))
    clock.advance(5)
    await queue.enqueue(request("b"))
    again = await queue.enqueue(request("a"))
    assert again.position == 1 and await queue.waiting("tv") == ["a", "b"]
    await queue.claim_next("agent1")
    assert (await queue.position("a")).position == 0
    assert await queue.position("nobody") is None


async def test_agents_claim_only_their_skills_and_up_to_capacity(queue, redis, clock):
    roster = AgentRoster(redis, clock)
    await roster.register("wang", name="王芳", skills=["billing"], capacity=1, status="available")
    await queue.enqueue(request("tv1", skill="tv"))
    await queue.enqueue(request("bill1", skill="billing"))
    await queue.enqueue(request("bill2", skill="billing"))
    assert (await queue.claim_next("wang")).conversation_id == "bill1"
    assert await queue.claim_next("wang") is None, "at capacity"
    await queue.close("bill1", "wang", "resolved")
    assert (await queue.claim_next("wang")).conversation_id == "bill2"
    assert await queue.waiting("tv") == ["tv1"]


async def test_concurrent_claims_never_hand_one_conversation_to_two_agents(queue, redis_url, clock, rules, events):
    for n in range(40):
        await queue.enqueue(request(f"c{n}", skill=["tv", "broadband"][n % 2]))
        clock.advance(0.01)
    # 25 agents on 25 separate connections, 2 claims each, all at once.
    clients = [aioredis.Redis.from_url(redis_url) for _ in range(25)]
    queues = [HandoffQueue(c, clock, rules=rules, recorder=events) for c in clients]

    async def agent(n: int) -> list[str]:
        got = []
        for _ in range(2):
            claimed = await queues[n].claim_next(f"agent{n}")
            if claimed:
                got.append(claimed.conversation_id)
        return got

    results = await asyncio.gather(*(agent(n) for n in range(25)))
    claimed = [c for got in results for c in got]
    assert len(claimed) == 40 and len(set(claimed)) == 40
    assert len(events.data("handoff_claimed")) == 40
    for client in clients:
        await client.close()


async def test_a_new_client_on_the_same_redis_carries_on(redis_url, clock, rules, events, redis):
    first = aioredis.Redis.from_url(redis_url)
    await HandoffQueue(first, clock, rules=rules, recorder=events).enqueue(request("kept", priority=1, note="x"))
    await first.close()  # the process "restarts"
    second = aioredis.Redis.from_url(redis_url)
    queue = HandoffQueue(second, clock, rules=rules, recorder=events)
    assert (await queue.position("kept")).position == 1
    claimed = await queue.claim_next("agent1")
    assert claimed.conversation_id == "kept" and claimed.context == {"note": "x"} and claimed.priority == 1
    await second.close()


async def test_events_carry_wait_and_handle_times(queue, clock, events):
    await queue.enqueue(request("a"))
    clock.advance(30)
    await queue.claim_next("agent1")
    clock.advance(200)
    await queue.close("a", "agent1", "resolved")
    assert events.kinds("a") == ["handoff_queued", "handoff_claimed", "handoff_closed"]
    assert events.data("handoff_claimed")[0]["wait_s"] == 30
    closed = events.data("handoff_closed")[0]
    assert closed["wait_s"] == 30 and closed["handle_s"] == 200 and closed["disposition"] == "resolved"


async def test_abandon_leaves_the_queue_and_is_recorded_once(queue, clock, events):
    await queue.enqueue(request("a"))
    await queue.enqueue(request("b"))
    clock.advance(45)
    await queue.abandon("a", "hung_up")
    await queue.abandon("a", "hung_up")
    assert await queue.waiting("tv") == ["b"] and await queue.position("a") is None
    assert events.data("handoff_abandoned") == [{"reason": "hung_up", "skill": "tv", "wait_s": 45}]


async def test_only_the_holder_closes_and_transfer_requeues_in_time_order(queue, clock):
    await queue.enqueue(request("a"))
    clock.advance(10)
    await queue.enqueue(request("b", skill="billing"))
    await queue.claim_next("agent1")
    with pytest.raises(NotYourConversation):
        await queue.close("a", "agent2", "resolved")
    position = await queue.transfer("a", "agent1", "billing")
    assert position.position == 1, "keeps its original enqueue time, ahead of b"
    assert await queue.waiting("billing") == ["a", "b"]
    with pytest.raises(HandoffError):
        await queue.close("a", "agent1", "resolved")


async def test_a_transferred_customers_waits_count_from_the_transfer_not_from_first_asking(queue, clock, events):
    """Found in review: the wait recorded at the next claim, close or abandonment counted from the first
    queue entry, which a transfer keeps for the place in line, so it took in the time with the first agent."""
    await queue.enqueue(request("served-twice"))
    clock.advance(60)
    await queue.claim_next("agent1")
    clock.advance(300)  # with the first agent
    await queue.transfer("served-twice", "agent1", "billing")
    clock.advance(40)
    await queue.claim_next("agent2")
    clock.advance(100)
    await queue.close("served-twice", "agent2", "resolved")

    await queue.enqueue(request("left-after-transfer"))
    clock.advance(60)
    await queue.claim_next("agent1")
    clock.advance(300)
    await queue.transfer("left-after-transfer", "agent1", "billing")
    clock.advance(140)
    await queue.abandon("left-after-transfer", "test")

    def waits(conversation_id: str, kind: str) -> list[float]:
        return [d["wait_s"] for c, k, _, d in events.recorded if c == conversation_id and k == kind]

    assert waits("served-twice", "handoff_claimed") == [60.0, 40.0]
    assert waits("served-twice", "handoff_closed") == [60.0, 40.0]
    assert waits("left-after-transfer", "handoff_abandoned") == [140.0]


async def test_a_customer_who_leaves_while_served_is_off_the_agents_list(queue, clock, events):
    await queue.enqueue(request("gone"))
    await queue.claim_next("agent1")
    await told(queue, "gone")  # the desk told them an agent joined: served (else tests/handoff/test_left_as_claimed.py)
    assert await queue.serving("agent1") == ["gone"]
    await queue.abandon("gone", "caller_hung_up")
    assert await queue.serving("agent1") == [], "no agent keeps working on a customer who left"
    assert (await queue.entry("gone"))["state"] == "left"
    await queue.abandon("gone", "caller_hung_up")
    assert events.kinds("gone").count("handoff_customer_left") == 1
    again = await queue.enqueue(request("gone"))
    assert again.position == 1, "the same conversation may ask again later"


async def test_a_caller_who_hangs_up_as_an_agent_claims_them_is_off_the_agents_list(queue, redis_url, clock, rules,
                                                                                  events):
    """The hang-up reads the entry while it waits; an agent's desk (another process) claims it before the
    hang-up removes it: the agent must not keep a caller who is gone (their one call slot with it)."""
    await queue.enqueue(HandoffRequest("ivr:call1", "ivr", "tv", 0, None, {}))
    desk_client = aioredis.Redis.from_url(redis_url)
    desk = HandoffQueue(desk_client, clock, rules=rules, recorder=events)
    read = queue.entry

    async def read_then_claimed(conversation_id: str) -> dict | None:
        found = await read(conversation_id)
        if found is not None and found["state"] == "waiting":
            assert (await desk.claim_next("agent1")).conversation_id == "ivr:call1"
        return found

    queue.entry = read_then_claimed
    await queue.abandon("ivr:call1", "caller_hung_up")
    queue.entry = read
    assert await queue.serving("agent1") == [], "the agent keeps a caller who hung up"
    assert (await queue.entry("ivr:call1"))["state"] == "left"
    # Never reached by the agent: their abandonment, naming the agent (tests/handoff/test_left_as_claimed.py)
    assert events.kinds("ivr:call1") == ["handoff_queued", "handoff_claimed", "handoff_abandoned"]
    await desk_client.close()


async def test_a_caller_who_hangs_up_as_the_agent_transfers_them_is_not_queued_again(redis, clock, rules):
    """The hang-up lands while the transfer writes its close to the record (a database write): the caller
    must not be put back in line for an agent to take a dead call."""
    hangs_up = HandoffQueue(redis, clock, rules=rules, recorder=Events())

    async def recorder(conversation_id: str, kind: str, channel: str, data: dict) -> None:
        if kind == "handoff_closed":
            await hangs_up.abandon(conversation_id, "caller_hung_up")

    queue = HandoffQueue(redis, clock, rules=rules, recorder=recorder)
    await queue.enqueue(HandoffRequest("ivr:call2", "ivr", "tv", 0, None, {}))
    await queue.claim_next("agent1")
    await queue.transfer("ivr:call2", "agent1", "billing")
    assert await queue.waiting("billing") == [], "a caller who hung up waits for an agent"
    assert (await queue.entry("ivr:call2"))["state"] == "abandoned"


async def test_a_proof_answered_as_the_agent_transfers_does_not_undo_the_transfer(queue, redis_url, clock, rules,
                                                                                  events):
    """The action server reads the entry, the agent's desk (another process) transfers it and a billing
    agent takes it, then the proof is written: the request it writes back is the one read before the
    transfer, and the billing agent's packet lost the group it is in and the first agent's note."""
    await queue.enqueue(request("p1"))
    await queue.claim_next("agent1")
    desk_client = aioredis.Redis.from_url(redis_url)
    desk = HandoffQueue(desk_client, clock, rules=rules, recorder=events)
    read = queue.entry

    async def read_then_transferred(conversation_id: str) -> dict | None:
        found = await read(conversation_id)
        if found["agent_id"] == "agent1":
            await desk.transfer("p1", "agent1", "billing", note="账单问题")
            clock.advance(1)
            assert (await desk.claim_next("agent2")).conversation_id == "p1"
        return found

    queue.entry = read_then_transferred
    await queue.proven("p1", {"id": 7, "name": "张伟", "phone": "13800000007"})
    queue.entry = read
    packet = (await queue.entry("p1"))["request"].context
    assert packet.get("skill") == "billing" and [t["note"] for t in packet.get("transfers", [])] == ["账单问题"]
    assert packet["customer"]["id"] == 7, "the proof still names the customer for the agent serving them now"
    await desk_client.close()
