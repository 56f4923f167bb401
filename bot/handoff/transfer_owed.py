"""What an agent's transfer owes once the queue has moved the customer: the events, and the customer told,
finished even when the desk's transfer was cut off after the queue's script.

The transfer script (``bot.handoff.queue._TRANSFER``) notes what is left in the record (``TRANSFER_FIELD``: its
mark, who passed the customer on, from which group to which, the note, what the customer is told next) and the
conversation in ``keys.transfers()``, and keeps the handle time, as it queues the customer again. The queue then
records ``handoff_closed`` (the first agent's contact) and ``handoff_queued`` (the new wait), under ids of the
transfer's own (``HandoffQueue.transfer_recorded``); the desk tells the customer (:func:`tell_transferred`: "已为您
转接", once under the transfer's mark, a proof the first agent asked for ended, then their place) and crosses it
off (:func:`told`). Found in review: a transfer cut off between the two (Redis not answering for a moment, the
server restarting) left the customer in the new group's queue without a word, never told they were transferred
nor their place (the waiting room's first visit says nothing: the request told it), the first agent's proof still
open, and neither the first agent's contact nor the new wait recorded.

The waiting room (``bot.handoff.watcher``) finishes each transfer still owed ``TRANSFER_GRACE_S`` after it
(:func:`finish_owed`): the events recorded unless they were (the record stores an event id once), and, while
the customer still waits from that transfer (read again under the conversation's lock), told unless the desk
told them already (the words carry the transfer's mark); a call lost meanwhile is told nothing and seen out of the
queue (:func:`lost_on_the_way`). A customer an agent of the new group has taken meanwhile was told "an agent
joined": nothing about the transfer is said then. A step that writes the record anew
before then (that agent transferring the customer on, the customer queued again after a close) records the events
first (``HandoffQueue._unless_owed``): found in review, they were lost to it.
"""
from __future__ import annotations

import json
import logging

from redis.exceptions import RedisError

from bot.handoff import keys
from bot.handoff.callback_transferred import CALLBACK_TRANSFERRED, note_transferred, tell_callback_transferred
from bot.handoff.handback import HANDBACK_GRACE_S
from bot.handoff.queue import TRANSFER_FIELD, QueuePosition
from bot.redis_text import as_text, as_text_or_none

logger = logging.getLogger(__name__)

# Longer than a desk's transfer takes from its script to the customer told.
TRANSFER_GRACE_S = HANDBACK_GRACE_S
# What the desk's transfer tells the customer first (``HandoffQueue.transfer``'s ``says``).
TRANSFERRED = "utter_queue_transferred"


async def tell_transferred(queue, conversations, conversation_id: str, owed: dict, position: QueuePosition,
                           still_owed=None) -> bool:
    """"已为您转接" (the bot stays paused, a proof the first agent asked for ends), then the place in the new
    queue, each once under the transfer's mark; each only while ``still_owed`` (by default :func:`waiting_from`: the
    customer still waits from this transfer) says so, asked under the conversation's lock. True when it went
    through. Found in review: the new group's agent taking the customer between the two, the place ("nobody is
    available", that agent busy now) came after his "an agent joined". A booked callback's customer, not on the
    line, hears neither: that the callback stands (``bot.handoff.callback_transferred``)."""
    from bot.handoff.queue_notice import tell_place  # it imports the waiting room, which imports this module

    still_owed = still_owed or waiting_from(queue, conversation_id, owed)
    if owed["says"] == CALLBACK_TRANSFERRED:
        return await tell_callback_transferred(queue, conversations, conversation_id, owed, still_owed)
    # said by its name, not ``owed["says"]`` (the desk notes no other): `kefu validate` reads what fills it
    if await conversations.hand_over(conversation_id, TRANSFERRED, once=owed["mark"], still_owed=still_owed) is None:
        return False
    await tell_place(queue, conversations, conversation_id, owed["to_skill"], owed["channel"], position,
                     once=f"{owed['mark']}:place", still_owed=still_owed)
    return True


async def lost_on_the_way(queue, conversations, conversation_id: str) -> bool:
    """Whether the call a transfer queued again is lost (its process died before or during the transfer, when nobody
    could tell yet: its last word keeps through the transfer, ``bot.handoff.presence``); if it still waits, it leaves
    the new group's queue now as the waiting room sees a lost call out (``call_lost``, handed back without a word).
    Found in review: a transfer finished once the loss was known (the agent's retry of one cut off, the waiting room's
    finish) said "已为您转接" and the caller's place into the dead line and left it waiting for the next group."""
    from bot.handoff.unanswered import call_lost_at  # it imports the queue's conversations, as the desk does

    entry = await queue.entry(conversation_id)
    lost_at = await call_lost_at(queue, entry) if entry is not None else None
    if lost_at is None:
        return False
    if entry["state"] == "waiting" and await queue.stop_waiting(conversation_id, "call_lost", left_at=lost_at):
        await conversations.resume(conversation_id, None)
        logger.warning("handoff.transfer.call_lost conversation=%s", conversation_id)
    return True


async def told(queue, conversation_id: str) -> None:
    """The transfer is done: nothing is owed. Not crossed off (Redis not answering), the waiting room finds the
    events recorded and the words said, and crosses it off then."""
    try:
        await queue.redis.zrem(keys.transfers(), conversation_id)
    except (RedisError, OSError):
        logger.warning("handoff.transfer.not_crossed_off conversation=%s", conversation_id)


async def finish_owed(queue, conversations) -> list[str]:
    """Finish every transfer owed for ``TRANSFER_GRACE_S``; the conversations whose customer was told now."""
    due = [as_text(m) for m in
           await queue.redis.zrangebyscore(keys.transfers(), "-inf", repr(queue.clock() - TRANSFER_GRACE_S))]
    finished = []
    for conversation_id in due:
        if await finish(queue, conversations, conversation_id):
            finished.append(conversation_id)
        await queue.redis.zrem(keys.transfers(), conversation_id)
    return finished


async def finish(queue, conversations, conversation_id: str) -> bool:
    """What the transfer last noted in the record still owes, done unless done already: its events recorded (dated
    when it was made) and, while the customer still waits from it, the customer told. For :func:`finish_owed`, and
    for the agent's retry of a transfer cut off after its script (``bot.handoff.desk.Desk.close``). True when the
    customer was told now. Not crossed off here."""
    owed = await queue.transfer_recorded(conversation_id, late=True)
    await note_transferred(queue, conversation_id, owed)  # a callback's ticket, unless noted already
    if owed is None or not owed.get("says") or await lost_on_the_way(queue, conversations, conversation_id):
        return False
    position = await queue.position(conversation_id)
    if position is None or not position.position or not await tell_transferred(
            queue, conversations, conversation_id, owed, position, waiting_from(queue, conversation_id, owed)):
        return False
    logger.warning("handoff.transfer.finished conversation=%s agent=%s to=%s", conversation_id, owed["agent_id"],
                   owed["to_skill"])
    return True


def waiting_from(queue, conversation_id: str, owed: dict):
    """Asked under the conversation's lock: the customer still waits in the queue that transfer put them in (not
    taken by an agent since, nor moved on by another transfer). Also for the notice that their agent left
    (``bot.handoff.watcher``), true only while they wait from the transfer that put them back."""
    async def still_owed() -> bool:
        state, noted = (as_text_or_none(v) for v in await queue.redis.hmget(
            keys.conversation(conversation_id), ["state", TRANSFER_FIELD]))
        return state == "waiting" and noted is not None and json.loads(noted).get("mark") == owed["mark"]

    return still_owed
