"""A skill's queue as one waiting-room tick finds it, so each customer's place costs no Redis reads.

A place counts the calls and chats ahead that are still there (``HandoffQueue.position``); read for
each customer on its own, a tick read everyone ahead of everyone, and grew with the square of the
queue (about a minute of Redis round trips at 1 000 waiting web chats: bench/RESULTS.md "A place in
line"). The line reads the queue's order, kinds and absences, the agents' slots and the mean handle
time once; the tick then walks it in order and keeps running counts of who is ahead. Customers who
leave during the tick are not counted for those behind them; a claim, a new arrival or a page closed
in another process meanwhile shows in the next tick's line (``watch_interval_s`` later).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from bot.handoff.agents import Slots
from bot.handoff.estimate import wait_behind
from bot.handoff.queue import HandoffQueue, QueuePosition


@dataclass
class Line:
    skill: str
    order: list[tuple[str, bool, bool]]  # (conversation id, call, gone), as HandoffQueue.in_line reads them
    chat_slots: Slots
    call_slots: Slots
    mean_handle_time_s: float
    _calls_ahead: int = field(default=0, init=False)
    _chats_ahead: int = field(default=0, init=False)

    @property
    def available(self) -> bool:
        """Whether any online agent serves the skill (their chat slots are their whole capacity)."""
        return self.chat_slots.total > 0

    def place(self, call: bool) -> QueuePosition:
        """The place and wait of the next customer in the walk: behind everyone counted so far."""
        ahead = (self._calls_ahead, self._chats_ahead)
        return QueuePosition(sum(ahead) + 1,
                             wait_behind(ahead, call, self.chat_slots, self.call_slots, self.mean_handle_time_s))

    def passed(self, call: bool, gone: bool, still_waiting: bool) -> None:
        """Count a customer the walk has passed as ahead of the rest, unless they left or are gone."""
        if still_waiting and not gone:
            if call:
                self._calls_ahead += 1
            else:
                self._chats_ahead += 1


async def read_line(queue: HandoffQueue, skill: str) -> Line:
    chat_slots, call_slots = await queue.roster.slots(skill)
    return Line(skill, await queue.in_line(skill), chat_slots, call_slots, await queue.mean_handle_time(skill))
