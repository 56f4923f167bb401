"""Wait estimates against hand-computed cases."""
from __future__ import annotations

import uuid

from bot.handoff.agents import AgentRoster
from bot.handoff.estimate import estimate_wait, wait_minutes
from bot.handoff.queue import HandoffRequest
from bot.ivr.handoff import QueueHandoff
from bot.ivr.held_calls import HeldCalls
from bot.renewing_thread import client_like


def test_formula():
    assert estimate_wait(5, 2, 200.0) == 500.0     # a slot frees every 100 s: the 5th release
    assert estimate_wait(1, 0, 300.0) == 300.0     # nobody online counts as one slot
    assert estimate_wait(4, 4, 90.0) == 90.0
    assert estimate_wait(0, 3, 90.0) == 0.0
    # The nearest minute, at least 1: what every channel says as "约N分钟".
    assert wait_minutes(600) == 10 and wait_minutes(61) == 1 and wait_minutes(0) == 1
    assert wait_minutes(89) == 1 and wait_minutes(90) == 2 and wait_minutes(310) == 5


async def test_a_peak_with_two_agents_is_not_told_whole_handle_times_per_round(queue, redis, clock, rules):
    """The head of operations' peak: 2 agents, 6 queued, conversations handled in about 40 s.
    The 7th caller's slot comes at the 7th release, one every 20 s (140 s, "about 2 minutes"),
    not after ceil(7/2) = 4 whole handle times (160 s, told "3 minutes" when rounded up); and the
    estimate the offer gives a newcomer is the one the caller is told once queued."""
    roster = AgentRoster(redis, clock, rules.presence_timeout_s)
    for agent in ("a1", "a2"):
        await roster.register(agent, name=agent, skills=["general"], capacity=1, status="available")
    for n in range(2):
        await queue.enqueue(HandoffRequest(f"done{n}", "ivr", "general", 0, None, {}))
        await queue.claim_next("a1")
        clock.advance(40)
        await queue.close(f"done{n}", "a1", "resolved")
    for agent in ("a1", "a2"):
        await roster.heartbeat(agent)
        await serving(queue, agent, f"ivr:on-{agent}", "ivr", "general")  # the peak: both agents on a call
    for n in range(6):
        await queue.enqueue(HandoffRequest(f"w{n}", "ivr", "general", 0, None, {}))
        clock.advance(1)
    offered = await queue.estimated_wait("general", "ivr")
    assert offered == 140.0 and wait_minutes(offered) == 2
    queued = await queue.enqueue(HandoffRequest("caller", "ivr", "general", 0, None, {}))
    assert (queued.position, queued.estimated_wait_s) == (7, offered)


async def test_queue_estimate_uses_position_online_capacity_and_recent_handle_times(queue, redis, clock, rules):
    # No history: the documented default handle time (content/handoff.yml) with one slot.
    assert await queue.estimated_wait("tv") == rules.default_handle_time_s
    roster = AgentRoster(redis, clock, rules.presence_timeout_s)
    await roster.register("a1", name="A", skills=["tv"], capacity=1, status="available")
    await roster.register("a2", name="B", skills=["tv", "billing"], capacity=1, status="available")
    await roster.register("a3", name="C", skills=["tv"], capacity=3, status="away")      # away: not counted
    await roster.register("a4", name="D", skills=["billing"], capacity=5, status="available")  # other skill
    # Three closed conversations of 100, 200 and 300 s: mean 200 s.
    for n, handle in enumerate([100, 200, 300]):
        await queue.enqueue(HandoffRequest(f"done{n}", "webchat", "tv", 0, None, {}))
        await queue.claim_next("a1")
        clock.advance(handle)
        await queue.close(f"done{n}", "a1", "resolved")
    for agent in ("a1", "a2", "a3", "a4"):
        await roster.heartbeat(agent)  # their desks check in every few seconds
    for agent in ("a1", "a2"):
        await serving(queue, agent, f"busy-{agent}", "webchat", "tv")  # no free slot: every place waits for releases
    for n in range(4):
        await queue.enqueue(HandoffRequest(f"w{n}", "webchat", "tv", 0, None, {}))
    # 5th in line, 2 online slots for tv: one frees every 100 s, the 5th release.
    assert await queue.estimated_wait("tv") == 500.0
    assert (await queue.position("w2")).estimated_wait_s == 300.0  # 3rd: 3 x 200 / 2
    # A desk that stopped checking in drops out: one slot left -> 5 x 200.
    clock.advance(rules.presence_timeout_s + 1)
    await roster.heartbeat("a1")
    assert await queue.estimated_wait("tv") == 1000.0


async def test_a_redis_with_no_handle_times_reads_them_from_the_record(kefu_env, redis, clock, rules, events):
    """Before any close reached Redis (a new or emptied Redis), the estimate quoted the default
    handle time (300 s) while the database knew the centre's: 2 agents, 6 queued, conversations of
    about 40 s -> the 7th caller waits about 140 s, not 7 x 300 / 2 = 1050 s ("18 minutes")."""
    import datetime as dt

    from bot.db.repository import engine_for
    from bot.handoff import keys
    from bot.handoff.handle_history import DatabaseHandleTimes
    from bot.handoff.queue import HandoffQueue
    from bot.outcomes.events import outcome_event
    from bot.outcomes.store import write_events

    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    write_events(engine_for(kefu_env.database_url), [
        outcome_event(f"old{n}", "handoff_closed", channel="ivr", at=now - dt.timedelta(hours=2, minutes=n),
                      skill=skill, handle_s=handle, agent_id="a1", disposition="resolved", wait_s=10)
        for n, (skill, handle) in enumerate([("general", 38.0), ("general", 42.0), ("billing", 900.0)])])
    queue = HandoffQueue(redis, clock, rules=rules, recorder=events, history=DatabaseHandleTimes(kefu_env.database_url))
    roster = AgentRoster(redis, clock, rules.presence_timeout_s)
    for agent in ("a1", "a2"):
        await roster.register(agent, name=agent, skills=["general"], capacity=1, status="available")
        await serving(queue, agent, f"ivr:on-{agent}", "ivr", "general")  # both on a call
    for n in range(6):
        await queue.enqueue(HandoffRequest(f"w{n}", "ivr", "general", 0, None, {}))
        clock.advance(1)
    assert await queue.estimated_wait("general", "ivr") == 140.0  # mean 40 s of the general group's closes
    assert await redis.lrange(keys.handle_times("general"), 0, -1), "kept in Redis: the record is read once"


async def handled(queue, skill: str, seconds: float) -> None:
    """A contact of ``skill`` an agent handled for ``seconds``, through the queue's own close, whose script keeps
    the handle times the estimates read: claimed ``seconds`` ago by an agent on no roster, closed now."""
    now = queue.clock
    conversation_id = f"handled-{uuid.uuid4().hex[:8]}"
    queue.clock = lambda: now() - seconds
    try:
        await queue.enqueue(HandoffRequest(conversation_id, "webchat", skill, 0, None, {}))
        taken = await queue.claim_next("handled-by")
    finally:
        queue.clock = now
    assert taken.conversation_id == conversation_id, "nobody else waits as it is taken"
    await queue.close(conversation_id, "handled-by", "resolved")


async def serving(queue, agent: str, conversation_id: str, channel: str, skill: str) -> None:
    """``agent`` takes ``conversation_id`` off the queue, as 接入下一位 does."""
    await queue.enqueue(HandoffRequest(conversation_id, channel, skill, 0, None, {}))
    assert (await queue.take_next(agent))[0] == "ok"


async def test_customers_within_the_free_slots_are_told_the_shortest_wait(queue, redis, clock, rules):
    """2 agents of capacity 2, one serving 2, the other 1: one slot is free now, so the first in line
    is taken at once ("约1分钟"), and everyone behind waits only for the slots that free up, one every
    480 / 4 = 120 s. Counting the free slot as busy told them 2, 4 and 6 minutes."""
    roster = AgentRoster(redis, clock, rules.presence_timeout_s)
    for agent in ("a1", "a2"):
        await roster.register(agent, name=agent, skills=["tv"], capacity=2, status="available")
    for conversation_id, agent in (("s1", "a1"), ("s2", "a1"), ("s3", "a2")):
        await serving(queue, agent, conversation_id, "webchat", "tv")
    await handled(queue, "tv", 480.0)
    told = [wait_minutes((await queue.enqueue(HandoffRequest(f"w{n}", "webchat", "tv", 0, None, {}))).estimated_wait_s)
            for n in range(3)]
    assert told == [1, 2, 4]  # 0 s, then the 1st and 2nd releases: 120 s and 240 s
    assert await queue.estimated_wait("tv") == 360.0  # a newcomer, 4th: the 3rd release
    # The second agent frees their last chat: 2 free slots, the first two are taken at once.
    clock.advance(480)
    for agent in ("a1", "a2"):
        await roster.heartbeat(agent)  # their desks check in every few seconds
    await queue.close("s3", "a2", "resolved")  # handled in 480 s: the mean stays
    assert [(await queue.position(f"w{n}")).estimated_wait_s for n in range(3)] == [0.0, 0.0, 120.0]


async def test_a_phone_queue_counts_one_call_per_agent(queue, redis, clock, rules):
    """3 agents of chat capacity 2, each on a call: a caller waits for a call to end, one every
    240 / 3 = 80 s, not for 6 "slots" (2 chats each) one every 40 s; and an agent on a call has no
    slot for a second caller although below their chat limit. The 3rd caller heard "约2分钟" and a
    newcomer was offered 160 s; it is 240 s ("约4分钟") and 320 s."""
    roster = AgentRoster(redis, clock, rules.presence_timeout_s)
    for agent in ("a1", "a2", "a3"):
        await roster.register(agent, name=agent, skills=["general"], capacity=2, status="available")
        await serving(queue, agent, f"ivr:call-{agent}", "ivr", "general")
    await handled(queue, "general", 240.0)
    queued = [await queue.enqueue(HandoffRequest(f"ivr:w{n}", "ivr", "general", 0, None, {})) for n in range(3)]
    assert [q.estimated_wait_s for q in queued] == [80.0, 160.0, 240.0]
    assert [wait_minutes(q.estimated_wait_s) for q in queued] == [1, 3, 4]
    assert await queue.estimated_wait("general", "ivr") == 320.0  # a newcomer, 4th: the 4th release
    gateway = QueueHandoff(redis, None)
    gateway.queue = queue  # the phone's gateway on this test's clock and rules
    assert await gateway.estimated_wait("general") == 320.0  # what the flow's peak offer compares
    # One call ends: that agent can take the next caller at once; the others wait one release less.
    clock.advance(240)
    held = HeldCalls(redis, clock=clock)  # the process holding the waiting calls vouches for them meanwhile
    for n in range(3):
        held.hold(f"ivr:w{n}")
    held.renew(client_like(redis))
    for agent in ("a1", "a2", "a3"):
        await roster.heartbeat(agent)
    await queue.close("ivr:call-a1", "a1", "resolved")  # handled in 240 s: the mean stays
    assert [(await queue.position(f"ivr:w{n}")).estimated_wait_s for n in range(3)] == [0.0, 80.0, 160.0]


async def test_an_agent_serving_a_chat_has_a_free_line_for_a_caller(queue, redis, clock, rules):
    """One call per agent limits calls, not chats: an agent serving one chat of capacity 2 holds no
    call, so the caller first in line is taken at once (the estimate said 240 / 2 = 120 s)."""
    roster = AgentRoster(redis, clock, rules.presence_timeout_s)
    await roster.register("a1", name="a1", skills=["general"], capacity=2, status="available")
    await serving(queue, "a1", "chat-1", "webchat", "general")
    await handled(queue, "general", 240.0)
    caller = await queue.enqueue(HandoffRequest("ivr:c1", "ivr", "general", 0, None, {}))
    assert caller.estimated_wait_s == 0.0 and wait_minutes(caller.estimated_wait_s) == 1
    assert await queue.estimated_wait("general") == 120.0  # a chat newcomer, 2nd: the 1st release of 2 slots


async def test_a_closed_page_ahead_is_not_counted_in_the_place_or_the_wait(queue, redis, clock, rules):
    """A web chat whose page closed keeps its place for the grace period (10 minutes) but claims pass it
    over: the customer behind it, taken at once by the free slot, was told place 2 and "约4分钟"."""
    from bot.handoff.presence import page_alive, page_closed

    roster = AgentRoster(redis, clock, rules.presence_timeout_s)
    await roster.register("a1", name="a1", skills=["tv"], capacity=2, status="available")
    await serving(queue, "a1", "s1", "webchat", "tv")  # one slot free
    await handled(queue, "tv", 480.0)
    await page_alive(redis, "ghost", "tab-1", clock())
    await queue.enqueue(HandoffRequest("ghost", "webchat", "tv", 0, None, {}))
    await page_closed(redis, "ghost", "tab-1", clock())
    clock.advance(1)
    await page_alive(redis, "here", "tab-2", clock())
    told = await queue.enqueue(HandoffRequest("here", "webchat", "tv", 0, None, {}))
    assert (told.position, told.estimated_wait_s) == (1, 0.0)
    assert await queue.estimated_wait("tv") == 240.0  # a newcomer, 2nd of those there: the 1st release
    assert (await queue.take_next("a1"))[1].conversation_id == "here", "as the claim sees the line"
