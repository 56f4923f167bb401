"""What a customer who (re)joins a queue is told: their place and the estimated wait, or that nobody
is there to serve their group yet, in the same words as on their first request (``utter_queued`` /
``utter_queue_nobody_available``, or ``utter_queue_after_hours`` at night, said by ``actions/handoff.py``).

Used where the desk puts a customer in a queue again: found by a tester, a customer transferred to
another skill group heard only "已为您转接" and never their new place or wait.
"""
from __future__ import annotations

from bot.handoff.estimate import wait_minutes
from bot.handoff.queue import HandoffQueue, QueuePosition
from bot.handoff.service_hours import agents_back_at
from bot.handoff.watcher import notice_state, remember_notice


async def tell_place(queue: HandoffQueue, conversations, conversation_id: str, skill: str, channel: str,
                     position: QueuePosition, *, once: str | None = None, still_owed=None) -> None:
    """Say the place (or that nobody is available) and remember it, so the waiting room does not repeat it, unless
    another agent took the customer and left meanwhile (``remember_notice``: his leaving is told first);
    ``once``: said only if nothing was said under that mark (``RasaConversations.utter``); ``still_owed``: only
    while it says so, asked under the conversation's lock, as an agent's "joined" is said (found in review: a
    transfer's "nobody available" came after the new group's agent had joined; the words are not said then, nor
    remembered).

    The structured ``queue_status`` goes with the words as the request's does (the web chat shows the
    place from it), except on a phone line, where the call flow has the caller on hold already.
    """
    available = await queue.roster.capacity_for(skill) > 0
    minutes = wait_minutes(position.estimated_wait_s)
    opens_at = None if available else agents_back_at(queue.clock())
    status = {"kind": "queue_status", "position": position.position,
              **({"wait_minutes": minutes} if available else {"wait_minutes": None, "agents_available": False})}
    extra = {} if channel == "ivr" else {"custom": status}
    if available:
        said = await conversations.utter(conversation_id, "utter_queued", once=once, still_owed=still_owed,
                                         position=position.position, wait_minutes=minutes, **extra)
    elif opens_at is None:
        said = await conversations.utter(conversation_id, "utter_queue_nobody_available", once=once,
                                         still_owed=still_owed, **extra)
    else:
        said = await conversations.utter(conversation_id, "utter_queue_after_hours", once=once,
                                         still_owed=still_owed, opens_at=opens_at, **extra)
    if still_owed is not None and said is None:
        return  # taken meanwhile: the agent's "joined" is what they heard
    await remember_notice(queue, conversation_id, notice_state(position.position, minutes, available, opens_at))
