"""The hand-back to the assistant that an agent's close owes the customer, finished even when the close
was cut off.

An agent's close frees the agent and finishes the queue record in one script, which also notes the
conversation in ``keys.handbacks()``; the desk then hands the conversation back to the assistant
(``RasaConversations.resume``) and crosses it off (:func:`handed_back`). Found in a fault review: a close
cut off between the two (Redis not answering for a moment, the worker killed) left the customer's
conversation paused with nobody on it — every message they sent went unanswered, for good, and the agent's
retry was refused because the conversation had ended.

The waiting room (one process at a time, ``bot.handoff.watcher``) finishes each hand-back still owed
``HANDBACK_GRACE_S`` after the close (:func:`finish_owed`): only a conversation still paused, and not in the
queue again, is resumed, so a hand-back done but not crossed off says nothing twice.
"""
from __future__ import annotations

import logging

from bot.handoff import keys
from bot.redis_text import as_text

logger = logging.getLogger(__name__)

# Longer than a close takes to hand back after its script (a message or two into the conversation).
HANDBACK_GRACE_S = 30.0


def agent_left_marker(channel: str) -> dict:
    """Goes with the hand-back message: the web chat shows the assistant's typing dots again."""
    return {"custom": {"kind": "agent_left"}} if channel == "webchat" else {}


async def handed_back(queue, conversation_id: str) -> None:
    """The desk handed the conversation back: nothing is owed any more."""
    await queue.redis.zrem(keys.handbacks(), conversation_id)


async def finish_owed(queue, conversations) -> list[str]:
    """Hand back every conversation owed one for ``HANDBACK_GRACE_S`` whose customer is still paused with
    nobody; the conversations handed back now."""
    due = [as_text(m) for m in
           await queue.redis.zrangebyscore(keys.handbacks(), "-inf", repr(queue.clock() - HANDBACK_GRACE_S))]
    finished = []
    for conversation_id in due:
        entry = await queue.entry(conversation_id)
        if entry is None or entry["state"] not in ("waiting", "claimed"):  # not in a new handoff meanwhile
            marker = agent_left_marker(entry["channel"]) if entry else {}
            if await conversations.resume(conversation_id, "utter_agent_handback", if_paused=True, **marker):
                finished.append(conversation_id)
                logger.warning("handoff.handback.finished conversation=%s", conversation_id)
        await handed_back(queue, conversation_id)
    return finished
