"""The customer's answer to self-help an agent pushed, counted like the assistant's own.

While an agent holds a conversation the bot is paused, so no bot action reads the customer's
解决了 / 没解决 (buttons ``/affirm`` and ``/deny``): the report's self-help success never counted
agents' pushes. The desk marks the push in the queue entry's hash; the event broker, which sees
every customer message once in the process that took it, hands each yes/no here. The first
answer while the agent still holds the conversation takes the mark (one Redis transaction), so
it is recorded once as ``selfhelp_resolved`` or ``selfhelp_failed``.
"""
from __future__ import annotations

import logging

from redis.exceptions import RedisError

from bot.handoff import keys

logger = logging.getLogger(__name__)

ANSWERS = {"affirm": "selfhelp_resolved", "deny": "selfhelp_failed"}
ASKED = "agent_selfhelp_asked"  # field of the queue entry's hash: the entry id the agent pushed last


async def mark_asked(redis, conversation_id: str, entry_id: str) -> None:
    await redis.hset(keys.conversation(conversation_id), ASKED, entry_id)


async def take_answer(redis, conversation_id: str) -> tuple[str, str] | None:
    """(entry id, agent id) of the push this answer is for, taken once; None without a pending push."""
    key = keys.conversation(conversation_id)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hmget(key, [ASKED, "state", "agent_id"])
        pipe.hdel(key, ASKED)
        values, taken = await pipe.execute()
    entry_id, state, agent_id = (v.decode() if isinstance(v, bytes) else v for v in values)
    if not taken or state != "claimed":
        return None
    return entry_id, agent_id or ""


async def record_answer(conversation_id: str, intent: str, channel: str) -> None:
    """Record a yes/no to the agent's last push; anything else, or no push pending, records nothing."""
    from bot.handoff.queue import redis_from_settings
    from bot.outcomes import record

    kind = ANSWERS.get(intent)
    if kind is None:
        return
    try:
        pushed = await take_answer(redis_from_settings(), conversation_id)
    except (RedisError, OSError):
        logger.warning("handoff.agent_selfhelp.unread conversation=%s", conversation_id)
        return
    if pushed is not None:
        await record(conversation_id, kind, channel=channel, selfhelp_id=pushed[0], agent_id=pushed[1])
