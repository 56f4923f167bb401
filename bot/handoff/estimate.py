"""Estimated wait: queue position, agents online for the skill, and recent handle times.

    wait = max(0, position - free) * mean_handle_time / max(1, capacity)

``position`` is 1-based (1 = next to be served) among the customers who compete for the same slots
(:func:`wait_behind`: a caller's place counts the calls ahead and only the
chats ahead that would take its call slots at once, a chat's the chats ahead and only the calls ahead
taken at once; calls and chats share one queue per skill, and counting every entry ahead told a caller
behind chats, or a chat behind callers agents on a call pass over, a wait for slots they do not
need); ``capacity`` is the number of conversations the
available agents of the skill can hold at once for the customer's channel, and ``free`` how many of
those slots are free right now (``bot.handoff.agents.AgentRoster.slots``: an agent's chat
concurrency ``capacity``, minus what they serve; on the phone one call per agent, free while they
hold no call). The first ``free`` customers in line are taken as soon as an agent picks them up: their
wait is 0 (told the shortest wait, "about 1 minute"). Those free slots are then busy too, so with every
slot busy a slot frees up on average every ``mean_handle_time / capacity`` seconds, and a customer
further back is served at the ``(position - free)``-th release. (Until this version free slots were
counted as busy, ``position * mean / capacity``: with 2 agents of capacity 2 serving 3 chats and
handle times of 480 s, the first in line, taken at once, was told "2 minutes"; and a phone queue
counted each agent's chat concurrency (2) as calls they could hold at once: 3 agents on a call each,
the 3rd caller was told "2 minutes" for 4. Before that the wait was ``ceil(position / capacity)``
whole handle times, the phone rounded minutes up at the peak offer and to the nearest once queued: found by the head of
operations' peak test, 2 agents and 6 queued, a caller was offered "15 minutes", then queued was
told "1 minute", and was answered 62 s later.)
The mean is over the last ``window`` closed conversations of the skill (kept in Redis; a Redis that has
none reads them from the database's record), or the documented default (``default_handle_time_s`` in
content/handoff.yml) while there are none at all.

What the customer hears is :func:`wait_minutes` of it, on every channel and at every step (the
phone's peak offer, its "you are queued" and the waiting room's notices): one rounding, so the
same queue state is announced as the same wait (the editors' texts say 约, about).
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Awaitable, Callable

import redis.asyncio as redis

from bot.handoff import keys

if TYPE_CHECKING:
    from bot.handoff.agents import Slots

# The waiting room's notices about the wait (bot.handoff.watcher.notify_if_changed): stale once an
# agent has the conversation, so a phone call does not say them then (bot.ivr.engine).
QUEUE_NOTICES = ("utter_queue_update", "utter_queue_nobody_available", "utter_queue_after_hours",
                 "utter_queue_agents_back")
# (skill, window) -> the recorded handle times, newest first (bot.handoff.handle_history).
HandleHistory = Callable[[str, int], Awaitable[list[float]]]


def estimate_wait(position: int, capacity: int, mean_handle_time_s: float, free: int = 0) -> float:
    """See the module docstring: ``free`` of the ``capacity`` slots take the first ``free`` in line at once."""
    releases = position - max(0, free)
    if position <= 0 or releases <= 0:
        return 0.0
    return releases * float(mean_handle_time_s) / max(1, capacity)


def wait_behind(ahead: tuple[int, int], call: bool, chat_slots: "Slots", call_slots: "Slots",
                mean_handle_time_s: float) -> float:
    """The estimate for a call (or a chat) behind ``ahead``, the (calls, chats) ahead of it in its skill's
    queue. Calls and chats share the queue but not the slots: a call waits for a call slot (one per agent),
    a chat for a chat slot, and an agent on a call passes the calls over (``HandoffQueue.take_next``). So
    its place counts those of its own kind ahead, and of the other kind only those the free slots take at
    once, before it, on slots it could have had: every call slot is also a chat slot (the call takes one of
    the agent's ``capacity``), and chats fill the chat slots no call can use (the free capacity of agents
    already on a call) first."""
    calls_ahead, chats_ahead = ahead
    if call:
        chat_only = max(0, chat_slots.free - call_slots.free)
        place = calls_ahead + max(0, min(chats_ahead, chat_slots.free) - chat_only) + 1
        return estimate_wait(place, call_slots.total, mean_handle_time_s, free=call_slots.free)
    place = chats_ahead + min(calls_ahead, call_slots.free) + 1
    return estimate_wait(place, chat_slots.total, mean_handle_time_s, free=chat_slots.free)


def wait_minutes(seconds: float) -> int:
    """What the customer is told: the nearest whole minute ("about N minutes"), at least 1.

    Nearest, not rounded up: the estimate is a mean, and a caller told 2 minutes for 61 s hears a
    wait twice as long as the one expected."""
    return max(1, math.floor(max(0.0, seconds) / 60 + 0.5))


async def mean_handle_time(client: redis.Redis, skill: str, window: int, default_s: float,
                           history: HandleHistory | None = None) -> float:
    """The mean of the skill's last ``window`` handle times: Redis's, else the record's (``history``,
    bot.handoff.handle_history, then kept in Redis), else ``default_s``."""
    key = keys.handle_times(skill)
    values = [float(v) for v in await client.lrange(key, 0, max(1, window) - 1)]
    if not values and history is not None:
        values = [max(0.0, float(v)) for v in await history(skill, window)][:max(1, window)]
        if values:
            async with client.pipeline(transaction=True) as pipe:  # newest first, as the close's script keeps them
                pipe.rpush(key, *(f"{v:.3f}" for v in values))
                pipe.ltrim(key, 0, max(1, window) - 1)
                await pipe.execute()
    return sum(values) / len(values) if values else float(default_s)
