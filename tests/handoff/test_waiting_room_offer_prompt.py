"""How soon a waiting chat customer is offered a callback when nobody is left to serve their queue.

Reported in review: "the offer reaches a waiting customer only at the waiting room's next pass (up to 30 s)". Checked
on a real Redis with the waiting room's own loop at the shipped ``watch_interval_s`` (``content/handoff.yml``, 1 s):
the offer (``utter_queue_nobody_available``: 预约回电, 留言) reaches the customer within a pass or two of the last agent
going away, and a customer queued with nobody there is offered it in the request's own reply (actions/handoff.py).
The 30 s is the waiting room's grace for steps cut off short (bot.handoff.handback), not its pass. This guards it.
"""
from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from bot.handoff.waiting_settings import load_waiting_room
from bot.handoff.watcher import WaitingRoom
from tests.conftest import PROJECT_ROOT
from tests.handoff.test_waiting_room import Conversations, agent_available, wait_in_line


@pytest.mark.usefixtures("agents_in_all_day")  # "nobody online" as said in the daytime
async def test_the_last_agent_going_away_offers_a_callback_within_a_pass_or_two(queue, clock):
    assert queue.rules.watch_interval_s <= 1.0, "content/handoff.yml: the pass the offer waits for"
    conversations = Conversations(clock)
    room = WaitingRoom(queue, conversations, load_waiting_room(PROJECT_ROOT / "content" / "waiting_room.yml"))
    await agent_available(queue, "wang")
    await wait_in_line(queue, "chat")
    await room.tick()  # the first visit: the request itself told the place
    loop = asyncio.create_task(room.run_forever())
    try:
        await queue.roster.set_status("wang", "away")
        gone_at = time.monotonic()
        deadline = gone_at + 10
        while "utter_queue_nobody_available" not in conversations.responses("chat") and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        offered_after = time.monotonic() - gone_at
    finally:
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop
    assert "utter_queue_nobody_available" in conversations.responses("chat"), "never offered"
    assert offered_after < 2 * queue.rules.watch_interval_s + 1, f"offered {offered_after:.1f} s after"
