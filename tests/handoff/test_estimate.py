"""Wait estimates against hand-computed cases."""
from __future__ import annotations

from bot.handoff.agents import AgentRoster
from bot.handoff.estimate import estimate_wait, wait_minutes
from bot.handoff.queue import HandoffRequest


def test_formula():
    assert estimate_wait(5, 2, 200.0) == 600.0     # ceil(5/2)=3 rounds of 200 s
    assert estimate_wait(1, 0, 300.0) == 300.0     # nobody online counts as one slot
    assert estimate_wait(4, 4, 90.0) == 90.0
    assert estimate_wait(0, 3, 90.0) == 0.0
    assert wait_minutes(600) == 10 and wait_minutes(61) == 2 and wait_minutes(0) == 1


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
    for n in range(4):
        await queue.enqueue(HandoffRequest(f"w{n}", "webchat", "tv", 0, None, {}))
    # 5th in line, 2 online slots for tv: ceil(5/2) = 3 rounds x 200 s.
    assert await queue.estimated_wait("tv") == 600.0
    assert (await queue.position("w2")).estimated_wait_s == 400.0  # 3rd: ceil(3/2) = 2 x 200
    # A desk that stopped checking in drops out: one slot left -> 5 x 200.
    clock.advance(rules.presence_timeout_s + 1)
    await roster.heartbeat("a1")
    assert await queue.estimated_wait("tv") == 1000.0
