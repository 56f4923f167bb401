"""What an agent's claim owes the customer: the bot paused and "an agent joined", finished even when the desk's
claim was cut off after the queue gave the agent the customer.

The claim script (``bot.handoff.queue._CLAIM``) notes the conversation in ``keys.joins()`` as it hands it to the
agent; the desk pauses the bot, tells the customer (:func:`say_joined`, once under :func:`join_mark`) and
crosses it off (:func:`told`). Found in review: a claim cut off between the two (Redis not answering for a
moment, the server restarting) left the customer with the agent's desk listing them and nobody telling them an
agent had them, the bot still answering them, or a paused conversation saying nothing.

The waiting room (``bot.handoff.watcher``) finishes each join still owed ``JOIN_GRACE_S`` after the claim
(:func:`finish_owed`): while the agent still has the conversation from that claim (read again under the
conversation's lock), the bot is paused and the customer told, unless the desk told them already (the words
carry the claim's mark: a desk that said them but could not cross them off is not repeated); and
``handoff_claimed`` is recorded if the claim was cut off before it (``HandoffQueue.claim_recorded``: once).
"""
from __future__ import annotations

import logging

from redis.exceptions import RedisError

from bot.handoff import keys, masking
from bot.handoff.handback import HANDBACK_GRACE_S
from bot.redis_text import as_text, as_text_or_none

logger = logging.getLogger(__name__)

# Longer than a desk's claim takes from its script to the customer told.
JOIN_GRACE_S = HANDBACK_GRACE_S


async def say_joined(conversations, request, agent_name: str, *, once: str, still_owed=None) -> bool:
    """Tell the customer ``agent_name`` has their conversation (the bot paused for it if it is not yet), once
    under ``once``; only while ``still_owed`` says so (``RasaConversations.join``). The reply and its values
    are written here, where ``kefu validate`` reads what fills its placeholders (bot/editor/reply_senders.py).
    A proof still open ends unless this claim's agent asked it (``RasaConversations.join``)."""
    # The web chat's marker (bot/channels/webchat.py): its waiting-room buttons (取消排队, 留言...) are spent.
    marker = {"custom": {"kind": "agent_joined", "agent_name": agent_name}} if request.channel == "webchat" else {}
    # A booked callback (bot/contacts/offer.py): the customer was told they could leave; the agent rings them.
    callback = (request.context or {}).get("callback")
    told = {"phone_masked": masking.mask_phone(str(callback.get("phone") or ""))} if callback else {}
    return await conversations.join(request.conversation_id, "utter_agent_calling_back" if callback else
                                    "utter_agent_joined", once=once, still_owed=still_owed, agent_name=agent_name,
                                    **told, **marker)


def join_mark(entry: dict) -> str:
    """The mark the words of one claim are said under (``RasaConversations.utter``'s ``once``)."""
    return f"joined:{entry['agent_id']}:{entry['claimed_at']!r}"


async def told(queue, conversation_id: str) -> None:
    """The customer was told: nothing is owed. Not crossed off (Redis not answering), the waiting room finds the
    words said and crosses it off then."""
    try:
        await queue.redis.zrem(keys.joins(), conversation_id)
    except (RedisError, OSError):
        logger.warning("handoff.join.not_crossed_off conversation=%s", conversation_id)


async def finish_owed(queue, conversations) -> list[str]:
    """Tell every customer owed "an agent joined" for ``JOIN_GRACE_S`` whom the agent still has from that claim;
    the conversations told now."""
    due = [as_text(m) for m in
           await queue.redis.zrangebyscore(keys.joins(), "-inf", repr(queue.clock() - JOIN_GRACE_S))]
    finished = []
    for conversation_id in due:
        entry = await queue.claim_recorded(conversation_id, late=True)  # the claim's event, if it was cut off too
        if entry is not None and entry["state"] == "claimed":
            roster = await queue.roster.get(entry["agent_id"])
            # Ends a proof open unless asked under this claim (found in review: 王芳's, left open by a transfer cut
            # off, took the digits typed for 李雷 whose claim was cut off too).
            if await say_joined(conversations, entry["request"], (roster.name if roster else "") or entry["agent_id"],
                                once=join_mark(entry), still_owed=claimed_as_read(queue, entry)):
                finished.append(conversation_id)
                logger.warning("handoff.join.finished conversation=%s agent=%s", conversation_id, entry["agent_id"])
        await queue.redis.zrem(keys.joins(), conversation_id)
    return finished


def claimed_as_read(queue, entry: dict):
    """Asked under the conversation's lock: the agent still has it from the claim read (not left, closed,
    given back or claimed again)."""
    async def still_owed() -> bool:
        now = await queue.redis.hmget(keys.conversation(entry["conversation_id"]), ["state", "agent_id", "claimed_at"])
        state, agent_id, claimed_at = (as_text_or_none(v) for v in now)
        return state == "claimed" and agent_id == entry["agent_id"] and claimed_at is not None \
            and float(claimed_at) == entry["claimed_at"]

    return still_owed
