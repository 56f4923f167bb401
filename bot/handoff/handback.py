"""The hand-back to the assistant that the end of a handoff owes the customer, finished even when the step
that ends it was cut off.

Every queue script that ends a handoff (an agent's close, the customer leaving the queue or the agent)
notes the conversation in ``keys.handbacks()`` in the same script; whoever ended it then hands the
conversation back to the assistant (``RasaConversations.resume``, or ``unpause`` for a customer who is
gone). Found in a fault review: a step cut off between the two (Redis not answering for a moment, the
worker killed) left the customer's conversation paused with nobody on it and nobody waiting for it:
every message they sent went unanswered, for good, and an agent's retry of the close was refused
because the conversation had ended.

The waiting room (one process at a time, ``bot.handoff.watcher``) looks at each conversation noted
``HANDBACK_GRACE_S`` earlier (:func:`finish_owed`): one still paused, and not in a new handoff, is handed
back with what the cut-off step would have said (:data:`SAID`, or the step's own words it noted first,
:func:`note_words`: a booked callback's ticket number and time); a hand-back already done is left alone
and nothing is said twice. The record is read again under the conversation's lock, just before the
hand-back: found in a second look, a customer handed back normally who asked for a person again as the
waiting room looked (a Rasa turn holds that lock while it queues them and pauses the bot) was found
paused, handed back and told "已为您取消排队" a second time, then answered by the bot while waiting in
line. The desk crosses its closes off at once (:func:`handed_back`); the other steps leave theirs to that
look, a tracker read each. That look also records an agent's close's ``handoff_closed`` if the close was cut off
before it (``HandoffQueue.close_recorded``: once, dated when the close was made).
"""
from __future__ import annotations

import json
import logging

from redis.exceptions import RedisError

from bot.handoff import keys
from bot.handoff.lost_calls import silent, text_owed
from bot.redis_text import as_text, as_text_or_none

logger = logging.getLogger(__name__)

# Longer than a step takes to hand back after its script (a message or two into the conversation).
HANDBACK_GRACE_S = 30.0

# What the customer is told when the hand-back is finished here, by how the handoff ended (the record's
# ``state``, else its ``reason``): what the step that was cut off says. Anything else goes back silently.
SAID = {"closed": "utter_agent_handback", "customer_cancelled": "utter_queue_cancelled",
        "timeout": "utter_queue_timeout", "removed_by_supervisor": "utter_queue_removed",
        "customer_gone": "utter_queue_left_away", "resolved_by_selfhelp": "utter_queue_selfhelp_worked"}


# The record's field holding what a step that ends the handoff will say when its words are its own (a booked
# callback's ticket number and time): said by :func:`finish_owed` if that step is cut off.
WORDS_FIELD = "handback_words"


async def note_words(queue, conversation_id: str, reason: str, response: str, **values) -> None:
    """Before the step that ends the handoff with ``reason``: what it will say. Found in a second look: a
    callback booked in the waiting room whose confirmation was cut off was handed back without a word, and
    the customer never learnt it was booked, nor its ticket number."""
    await queue.redis.hset(keys.conversation(conversation_id), WORDS_FIELD,
                           json.dumps({"reason": reason, "response": response, "values": values}, ensure_ascii=False))


def close_mark(entry: dict) -> str:
    """The mark a close's own words are said under (``RasaConversations.utter``'s ``once``): said once."""
    return f"closed:{entry['agent_id']}:{entry['claimed_at']!r}"


def handback_mark(entry: dict) -> str:
    """The mark an agent's close's hand-back words are said under: said once, whoever hands back first (the
    desk's close, its retry, the waiting room)."""
    return f"{close_mark(entry)}:handed_back"


def close_words(entry: dict, response: str, **values) -> str:
    """What an agent's close says before its hand-back (a ticket's number, a callback's time), for the close's
    script to note (``HandoffQueue.close``'s ``words``). Found in review: a close cut off after its script was
    handed back with "人工客服已结束本次服务" only: the customer never learnt the ticket number to follow it up."""
    return json.dumps({"reason": "closed", "response": response, "values": values, "once": close_mark(entry)},
                      ensure_ascii=False)


async def ask_csat(conversations, conversation_id: str, channel: str, agent_id: str,
                   database_url: str | None = None) -> None:
    """An agent resolved it: ask the customer for a score on their channel, once per conversation, as the
    assistant does after self-help (``utter_ask_csat``: chat buttons, WeChat menu links). A caller is asked by
    the phone flow itself (``csat_survey``, keys 1-5) when they go quiet after the agent hands them back to the
    assistant. The answer lands in the same contact, so the KPIs count it for the agent-handled contact."""
    from bot.outcomes import record

    if channel == "ivr":
        return
    if await conversations.ask_once(conversation_id, "utter_ask_csat", "csat_asked"):
        await record(conversation_id, "csat_asked", channel=channel, database_url=database_url,
                     after="agent", agent_id=agent_id)


def agent_left_marker(channel: str) -> dict:
    """Goes with the agent's hand-back message: the web chat shows the assistant's typing dots again."""
    return {"custom": {"kind": "agent_left"}} if channel == "webchat" else {}


async def handed_back(queue, conversation_id: str) -> None:
    """The conversation is the assistant's again: nothing is owed any more. Not crossed off (Redis not
    answering), the waiting room finds it handed back and crosses it off then: the close that did
    everything does not fail at the last step."""
    try:
        await queue.redis.zrem(keys.handbacks(), conversation_id)
    except (RedisError, OSError):
        logger.warning("handoff.handback.not_crossed_off conversation=%s", conversation_id)


async def owed(queue, conversation_id: str) -> bool:
    """Whether the conversation's last handoff ended and its hand-back is not yet done (or not yet crossed off).
    A step that queues the customer again from outside the conversation (a booked callback offered to the agents,
    ``bot.contacts.offer``) waits for it: writing the record anew, it would leave :func:`finish_owed` nothing to
    finish. Found in review: a callback booked in the waiting room whose confirmation was cut off, offered within the
    30 s, left the customer paused, never told it was booked nor its ticket number, until an agent rang."""
    state = as_text_or_none(await queue.redis.hget(keys.conversation(conversation_id), "state"))
    return state not in (None, "waiting", "claimed") and \
        await queue.redis.zscore(keys.handbacks(), conversation_id) is not None


async def finish_owed(queue, conversations) -> list[str]:
    """Hand back every conversation owed one for ``HANDBACK_GRACE_S`` whose customer is still paused with
    nobody; the conversations handed back now."""
    due = [as_text(m) for m in
           await queue.redis.zrangebyscore(keys.handbacks(), "-inf", repr(queue.clock() - HANDBACK_GRACE_S))]
    await queue.closes_recorded_late(HANDBACK_GRACE_S)  # those whose record, or hand-back owed, lost them
    finished = []
    for conversation_id in due:
        if await finish(queue, conversations, conversation_id):
            finished.append(conversation_id)
        await queue.redis.zrem(keys.handbacks(), conversation_id)
    return finished


async def finish(queue, conversations, conversation_id: str) -> bool:
    """What the step that ended the conversation's handoff still owes, done unless done already: an agent's close's
    event recorded (dated when the close was made), the customer handed back with what that step says, a resolved
    close's score asked. For :func:`finish_owed`, and for the agent's retry of a close cut off after its script
    (``bot.handoff.desk.Desk.close``). True when the conversation was handed back now. Not crossed off here."""
    await queue.close_recorded(conversation_id, late=True)  # an agent's close's event, if it was cut off too
    state, reason, channel, noted, disposition, agent_id, claimed_at = (
        as_text_or_none(v) or "" for v in await queue.redis.hmget(
            keys.conversation(conversation_id),
            ["state", "reason", "channel", WORDS_FIELD, "disposition", "agent_id", "claimed_at"]))
    if state in ("waiting", "claimed"):  # in a new handoff meanwhile
        return False
    if state == "closed" and noted:
        await text_owed(json.loads(noted))  # a lost call's close: its notice by SMS, if not sent
    response, values = _words(state, reason, channel, noted)
    still_owed = _ended_as_read(queue, conversation_id, state, reason)
    if response is None:
        resumed = await conversations.unpause(conversation_id, still_owed=still_owed)
    else:
        once = handback_mark({"agent_id": agent_id, "claimed_at": float(claimed_at)}) if state == "closed" else None
        resumed = await conversations.resume(conversation_id, response, if_paused=True, still_owed=still_owed,
                                             before=_said_first(state, noted), once=once, **values)
    if resumed:
        logger.warning("handoff.handback.finished conversation=%s state=%s reason=%s", conversation_id, state, reason)
    if state == "closed" and disposition == "resolved" and await still_owed():
        # Asked once per conversation: a close cut off at its question, after the hand-back, is asked too.
        await ask_csat(conversations, conversation_id, channel, agent_id)
    return resumed


def _said_first(state: str, noted: str) -> tuple[str, dict, str] | None:
    """A close's own words, said before the hand-back once under their mark (the desk may have said them)."""
    words = json.loads(noted) if noted else {}
    if state != "closed" or words.get("reason") != "closed" or silent(words):
        return None
    return words["response"], words["values"], words["once"]


def _words(state: str, reason: str, channel: str, noted: str) -> tuple[str | None, dict]:
    """What the step that ended the handoff says as it hands back (None: nothing), and its values: its own
    words when it noted them (:func:`note_words`), else :data:`SAID`'s with the channel's marker."""
    from bot.handoff.watcher import left_queue_marker  # the waiting room imports this module

    words = json.loads(noted) if noted else {}
    if state == "abandoned" and words.get("reason") == reason:
        return words["response"], words["values"]
    if state == "closed" and silent(words):  # a lost call's close: its line is dead (bot.handoff.lost_calls)
        return None, {}
    response = SAID.get(state) or SAID.get(reason)
    if state == "closed":
        return response, agent_left_marker(channel)
    if reason in ("customer_cancelled", "resolved_by_selfhelp"):
        return response, {}
    return response, left_queue_marker(channel)


def _ended_as_read(queue, conversation_id: str, state: str, reason: str):
    """Asked under the conversation's lock: the record still ends as it did when read (not queued again)."""
    async def still_owed() -> bool:
        now = await queue.redis.hmget(keys.conversation(conversation_id), ["state", "reason"])
        return tuple(as_text_or_none(v) or "" for v in now) == (state, reason)

    return still_owed
