"""A phone caller who hangs up at the moment an agent claims them, on a real Redis, in the exact orders it happens.

The caller's process leaves the queue (``QueueHandoff.leave``: ``HandoffQueue.abandon``) while the agent's desk, another
process on another client, claims the call. Found in review: whichever came first, the call was recorded
``handoff_claimed`` then ``handoff_customer_left``, and the reports counted it answered (and "not closed by the
agent"), though no agent ever reached the caller; and the agent's open desk went on showing the call until its
stream's next keep-alive.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import time

import aiohttp
import redis.asyncio as aioredis
from sanic import Sanic

from bot.analytics.contacts import split_contacts
from bot.channels import agent_desk
from bot.handoff.desk_push import changes_channel
from bot.handoff.joined import told
from bot.handoff.queue import HandoffQueue, HandoffRequest
from bot.handoff.sessions import COOKIE
from bot.ivr.handoff import QueueHandoff
from tests.handoff.test_recordings_across_instances import agent, desk  # noqa: F401 - fixtures
from tests.sanic_served import served_desk

Sanic.test_mode = True  # a second app in the process (tests/handoff/test_audio_ranges.py)

CALL = "ivr:call-at-claim"
T0 = dt.datetime(2026, 3, 2, 11, 0)


def contact(events) -> object:
    """The reports' contact of ``CALL`` from the events the queue recorded, in the order it recorded them."""
    rows = [{"conversation_id": c, "kind": k, "channel": ch, "customer": "", "data": d,
             "at": T0 + dt.timedelta(seconds=n)} for n, (c, k, ch, d) in enumerate(events.recorded) if c == CALL]
    [found] = split_contacts(rows)
    return found


async def caller_on_hold(queue: HandoffQueue, clock) -> QueueHandoff:
    await queue.enqueue(HandoffRequest(CALL, "ivr", "tv", 0, None, {}))
    clock.advance(42)
    phone = QueueHandoff(queue.redis, repository=None)  # the call's process: its own leave path
    phone.queue = queue
    return phone


async def test_a_caller_who_hangs_up_as_the_agent_claims_them_gave_up_waiting(queue, redis_url, clock, rules, events):
    """The hang-up reads the entry waiting; the desk claims the call before the hang-up removes it."""
    phone = await caller_on_hold(queue, clock)
    desk_client = aioredis.Redis.from_url(redis_url)
    agents_queue = HandoffQueue(desk_client, clock, rules=rules, recorder=events)
    watching = desk_client.pubsub()  # the agent's open desk stream (bot.channels.agent_desk.stream)
    await watching.subscribe(changes_channel(CALL, desk_client))
    await watching.get_message(timeout=5)  # the subscription's own confirmation
    read = queue.entry

    async def read_then_claimed(conversation_id: str) -> dict | None:
        found = await read(conversation_id)
        if found is not None and found["state"] == "waiting":
            assert (await agents_queue.claim_next("agent1")).conversation_id == CALL
        return found

    queue.entry = read_then_claimed
    await phone.leave(CALL, "caller_hung_up")
    queue.entry = read

    assert await queue.serving("agent1") == [], "the agent keeps a caller who hung up"
    assert await watching.get_message(ignore_subscribe_messages=True, timeout=5) is not None, \
        "the agent's open desk is not told the call ended"
    assert "handoff_customer_left" not in events.kinds(CALL)
    [left] = [d for c, k, _, d in events.recorded if c == CALL and k == "handoff_abandoned"]
    assert (left["agent_id"], left["reason"], left["wait_s"]) == ("agent1", "caller_hung_up", 42.0)
    shown = contact(events)
    assert shown.how == "abandoned" and not shown.answered, "reported answered: no agent ever reached the caller"
    assert shown.abandoned_wait_s == 42.0 and shown.answered_wait_s is None
    await watching.close()
    await desk_client.close()


async def test_a_caller_who_hangs_up_before_the_claim_reached_them_gave_up_waiting(queue, clock, events):
    """The claim is made (its script and its event), the hang-up lands before the desk told the caller an agent
    joined: nobody was reached."""
    phone = await caller_on_hold(queue, clock)
    assert (await queue.claim_next("agent1")).conversation_id == CALL
    clock.advance(1)
    await phone.leave(CALL, "caller_hung_up")

    assert events.kinds(CALL) == ["handoff_queued", "handoff_claimed", "handoff_abandoned"]
    assert events.data("handoff_abandoned")[0]["claimed_wait_s"] == 42.0
    shown = contact(events)
    assert (shown.how, shown.answered, shown.abandoned_wait_s) == ("abandoned", False, 43.0)
    await phone.leave(CALL, "caller_hung_up")  # the end of the call's clean-up, again: nothing more recorded
    assert events.kinds(CALL).count("handoff_abandoned") == 1


async def test_a_caller_who_hangs_up_once_the_agent_has_them_was_answered(queue, clock, events):
    """Told an agent joined (the desk's claim finished), then hung up: answered, as before."""
    phone = await caller_on_hold(queue, clock)
    assert (await queue.claim_next("agent1")).conversation_id == CALL
    await told(queue, CALL)
    clock.advance(30)
    await phone.leave(CALL, "caller_hung_up")

    assert events.kinds(CALL) == ["handoff_queued", "handoff_claimed", "handoff_customer_left"]
    shown = contact(events)
    assert shown.answered and shown.answered_wait_s == 42.0


async def test_the_agents_open_desk_ends_the_call_as_the_caller_hangs_up(desk, clock):  # noqa: F811
    """The desk's stream of the call (open as the page shows it) says the conversation ended at once, as an
    agent's message to it would be refused: not at its next keep-alive, ``STREAM_KEEPALIVE_S`` later, while the
    agent typed to a caller who was gone. The caller hangs up just after the stream's read of the conversation
    found it still the agent's (its second: the first is followed at once by a keep-alive, as the subscription's
    own confirmation wakes it), so the stream next waits for a change."""
    token = await agent(desk, "wang", ["tv"])
    phone = await caller_on_hold(desk.queue, clock)
    assert (await desk.queue.take_next("wang"))[1].conversation_id == CALL
    read, reads, left = desk.messages, [], []

    async def read_then_hung_up(agent_id: str, conversation_id: str, after: int) -> dict:
        found = await read(agent_id, conversation_id, after)
        reads.append(found)
        if len(reads) == 2:
            await phone.leave(CALL, "caller_hung_up")
            left.append(time.monotonic())
        return found

    desk.messages = read_then_hung_up
    async with served_desk(desk, "desk_left_as_claimed") as url, \
            aiohttp.ClientSession(cookies={COOKIE: token}) as session:
        async with session.get(f"{url}/agent/api/conversations/{CALL}/stream") as answer:
            assert answer.status == 200
            body = await asyncio.wait_for(answer.read(), timeout=30)
    assert left, "the stream never read the conversation twice"
    ended_after = time.monotonic() - left[0]
    assert body.endswith(b'event: ended\ndata: {"error": "error_not_serving"}\n\n')
    assert ended_after < agent_desk.STREAM_KEEPALIVE_S / 3, f"the desk learnt it {ended_after:.1f} s later"
