"""The waiting room's lock while a visit is slow: one worker visits the waiting customers at a time.

On a real (embedded) Redis: the lock's lease (2 s) runs out in Redis's own time, so the tests wait that long
for it, not for something to happen. A visit waits on the conversation's lock, the database and the model;
at the peak that outlasts the lease, and another worker then answered the same customers alongside it.
"""
from __future__ import annotations

import asyncio

from bot.handoff import keys, watcher
from tests.handoff.test_departures import room_settings, room_with  # noqa: F401 - the fixture is used
from tests.handoff.test_waiting_room import wait_in_line

PAST_THE_LEASE_S = 2.5  # the lease is twice the 1 s interval


async def slow_visit_and_another_worker(queue, clock, room_settings):
    """c1 and c2 wait; worker A's visit to c1 is held past the lease, then worker B ticks. Returns who each
    visited and a function that lets A's visit end."""
    for conversation_id in ("c1", "c2"):
        await wait_in_line(queue, conversation_id)
    a, b = room_with(queue, clock, room_settings, None), room_with(queue, clock, room_settings, None)
    visited = {"a": [], "b": []}
    inside, done = asyncio.Event(), asyncio.Event()

    async def a_attends(conversation_id: str) -> None:
        visited["a"].append(conversation_id)
        inside.set()
        await done.wait()

    async def b_attends(conversation_id: str) -> None:
        visited["b"].append(conversation_id)

    a.attend, b.attend = a_attends, b_attends
    a_tick = asyncio.create_task(a.tick())
    await inside.wait()
    await asyncio.sleep(PAST_THE_LEASE_S)
    await b.tick()
    done.set()
    await a_tick
    return visited


async def test_a_visit_slower_than_the_lease_keeps_other_workers_away(queue, clock, room_settings):
    """Worker B visiting while A still answers c1 says every notice twice and answers each message twice."""
    visited = await slow_visit_and_another_worker(queue, clock, room_settings)
    assert visited["b"] == [], "another worker visited the customers while a visit was still running"
    assert sorted(visited["a"]) == ["c1", "c2"], "the slow visit's worker went on with the rest of the line"
    assert not await queue.redis.exists(keys.watcher_lock()), "the lock is freed when the tick ends"


async def test_a_visit_stuck_past_its_hold_lets_another_worker_go_on(queue, clock, room_settings, monkeypatch):
    """A visit that hangs (a database that never answers) must not stop every customer's waiting room."""
    monkeypatch.setattr(watcher, "VISIT_HOLD_S", 0.0)
    visited = await slow_visit_and_another_worker(queue, clock, room_settings)
    assert sorted(visited["b"]) == ["c1", "c2"], "nobody visited the waiting customers while one visit hung"
