"""Agent messages the customer's channel refused, marked on the desk's transcript.

The tracker records what the agent said before the channel sends it (Rasa's order: save, then
side effects), and a saved event is not rewritten. WeChat can refuse a customer-service message
(45015: more than 48 hours since the follower last wrote, or they unsubscribed): the refusal is
kept next to the conversation in Redis, keyed by the message's event timestamp, and the desk
shows the turn as not delivered (UI string ``undelivered_<reason>``).

``held`` is a pending mark: WeChat refused for quota (45047) and the channel keeps the message until
the follower writes again (``bot.channels.wechat_held``); once it is delivered the mark is removed.
"""
from __future__ import annotations

from bot.channels.wechat_held import HELD
from bot.handoff import keys
from bot.handoff.desk_push import changes_channel
from bot.redis_text import as_text

MARKS_TTL_S = 30 * 24 * 3600  # longer than any conversation stays open at the desk
HELD_MARK = "held"  # bot.channels.wechat_api.HELD
WINDOW_MARK = "window"  # bot.channels.wechat_api.WINDOW
HELD_LIST_PREFIX = "kefu:wechat:" + HELD  # + openid: the messages held for a follower (bot/channels/wechat.py's guard)


def undelivered_key(conversation_id: str) -> str:
    """Hash: agent message timestamp (repr) -> reason (``window``, ``credentials``, ``failed``)."""
    return keys.conversation(conversation_id) + ":undelivered"


async def mark_undelivered(redis, conversation_id: str, events: list[dict], text: str, reason: str) -> None:
    """Mark the latest agent message with ``text`` as not delivered."""
    from bot.handoff.desk_view import agent_said

    for event in reversed(events):
        agent = agent_said(event) if event.get("event") == "bot" else None
        if agent is not None and agent[1] == text:
            await redis.hset(undelivered_key(conversation_id), repr(float(event.get("timestamp") or 0)), reason)
            await redis.expire(undelivered_key(conversation_id), MARKS_TTL_S)
            if reason == HELD_MARK:  # an open desk learns it is pending, so it can tell when it is not
                await redis.publish(changes_channel(conversation_id, redis), "1")
            return


async def undelivered_marks(redis, conversation_id: str) -> dict[str, str]:
    """The conversation's marks as the desk shows them. A pending mark whose messages are no longer
    held was dropped unsent (WeChat's held messages are kept 48 hours, ``bot.channels.wechat_held``):
    it reads ``window`` (not delivered: more than 48 hours), not pending for ever."""
    marks = await _stored_marks(redis, conversation_id)
    if HELD_MARK in marks.values() and not await redis.exists(HELD_LIST_PREFIX + conversation_id):
        return {at: WINDOW_MARK if mark == HELD_MARK else mark for at, mark in marks.items()}
    return marks


async def _stored_marks(redis, conversation_id: str) -> dict[str, str]:
    marks = await redis.hgetall(undelivered_key(conversation_id))
    return {as_text(k): as_text(v) for k, v in (marks or {}).items()}


async def delivered_held(redis, conversation_id: str) -> None:
    """Everything held for the conversation has been delivered: its pending marks go."""
    if redis is None:
        return
    marks = await _stored_marks(redis, conversation_id)
    held = [at for at, reason in marks.items() if reason == HELD_MARK]
    if held:
        await redis.hdel(undelivered_key(conversation_id), *held)
        await redis.publish(changes_channel(conversation_id, redis), "1")  # an open desk drops the marks


async def held_undelivered(redis, conversation_id: str, reason: str) -> None:
    """What was held for the conversation will never be delivered (a WeChat follower unsubscribed): its
    pending marks say why instead (``reason``, e.g. ``window``)."""
    if redis is None:
        return
    marks = await _stored_marks(redis, conversation_id)
    held = {at: reason for at, mark in marks.items() if mark == HELD_MARK}
    if held:
        await redis.hset(undelivered_key(conversation_id), mapping=held)
        await redis.publish(changes_channel(conversation_id, redis), "1")  # an open desk shows them undelivered


def pending_turns(turns: list[dict]) -> list[int]:
    """Indexes of the turns still held for delivery: the desk drops a turn's pending mark when its
    index leaves this list."""
    return [turn["index"] for turn in turns if turn.get("undelivered") == HELD_MARK]


def with_undelivered(turns: list[dict], marks: dict[str, str]) -> list[dict]:
    """Agent turns the channel refused get ``undelivered`` (the reason)."""
    if not marks:
        return turns
    for turn in turns:
        if turn.get("who") == "agent" and turn.get("at") is not None:
            reason = marks.get(repr(float(turn["at"])))
            if reason:
                turn["undelivered"] = reason
    return turns

