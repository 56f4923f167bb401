""""Your agent left" survives the waiting room's process stopping as it tells it.

Found in review: the pass wrote the customer's new notice state (their place) over ``with_agent`` and only then said
that their agent had left; a process stopped between the two left the customer never told, the next pass finding the
place already told. On a real Redis queue, the stop a raise at the moment of the words.
"""
from __future__ import annotations

import pytest

from bot.handoff.departures import sign_out
from bot.handoff.watcher import WaitingRoom
from tests.handoff.test_callback_requeued import room_settings
from tests.handoff.test_departures import serving
from tests.handoff.test_waiting_room import Conversations, agent_available

LEFT = "utter_queue_agent_left"


class Stopped(Exception):
    """The waiting room's process stopping."""


class StoppingAtTheWords(Conversations):
    """The real conversations' hand-over as the waiting room sees it: said once under its mark, only while still
    owed; ``stop`` set, the process stops once, before (``"before"``) or after (``"after"``) the words go."""

    def __init__(self, clock) -> None:
        super().__init__(clock)
        self.stop: str | None = None

    async def hand_over(self, conversation_id: str, response: str, *, once=None, still_owed=None, **values):
        stop, self.stop = self.stop, None
        if stop == "before":
            raise Stopped()
        if still_owed is not None and not await still_owed():
            return None
        if once is None or once not in {v.get("once") for _, v in self.said.get(conversation_id, [])}:
            await self.utter(conversation_id, response, once=once, **values)
        if stop == "after":
            raise Stopped()
        return True


@pytest.fixture
def room(queue, clock, kefu_env):
    return WaitingRoom(queue, StoppingAtTheWords(clock), room_settings())


async def put_back(queue, room) -> None:
    """c1's agent signs out as another is there: c1 is back in line, owed "your agent left"."""
    await serving(queue, "gone", "c1")
    await agent_available(queue, "here")
    assert await sign_out(queue, "gone", None) == 1
    assert (await queue.entry("c1"))["state"] == "waiting"


async def test_stopped_before_the_words_the_next_pass_says_them(queue, clock, room):
    await put_back(queue, room)
    room.conversations.stop = "before"
    with pytest.raises(Stopped):
        await room.visit("c1")
    assert room.conversations.responses("c1") == []

    clock.advance(1)
    await room.visit("c1")  # the restarted process's pass
    assert room.conversations.responses("c1") == [LEFT, "utter_queue_update"]
    clock.advance(1)
    await room.visit("c1")
    assert room.conversations.responses("c1") == [LEFT, "utter_queue_update"], "told once"


async def test_stopped_after_the_words_the_next_pass_says_the_place_only(queue, clock, room):
    await put_back(queue, room)
    room.conversations.stop = "after"
    with pytest.raises(Stopped):
        await room.visit("c1")
    assert room.conversations.responses("c1") == [LEFT]

    clock.advance(1)
    await room.visit("c1")
    told = room.conversations.responses("c1")
    assert told == [LEFT, "utter_queue_update"], "the place told too, the leaving not twice"
