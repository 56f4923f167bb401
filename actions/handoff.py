"""Requests for a human: route to a skill group, build the agent's context packet, queue,
tell the customer their place and wait, and pause the bot until the agent hands back.

Triggers reach ``action_request_human`` through the rules (request_human), the yes to an
offer (complaint, two fallbacks, self-help failed twice — ``offer_human``), and directly for
customers at or above ``direct.min_vip_tier`` in content/handoff.yml.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ConversationPaused, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from redis.exceptions import RedisError

from actions.backend import catalogue, channel_of, db, latest_text, record, repository, says_any
from actions.chain import continue_with
from actions.identity import identified, local_phone, verified_customer
from bot.db.repository import Customer, DatabaseError
from bot.handoff import keys
from bot.handoff.estimate import wait_minutes
from bot.handoff.history import repeat_contact
from bot.handoff.queue import queue_from_settings
from bot.handoff.rules import HandoffRules, load_rules
from bot.handoff.service import request_handoff
from bot.handoff.service_hours import agents_back_at
from bot.handoff.tickets import session_start_bound
from bot.handoff.waiting_settings import load_waiting_room
from bot.handoff.watcher import notice_state, remember_notice
from bot.repair_faults import faults_of
from bot.settings import get_settings

logger = logging.getLogger(__name__)

# Turns that answer the bot rather than say what the customer needs.
NOT_A_TOPIC = {"request_human", "affirm", "deny", "inform", "nlu_fallback", "greet", "thanks", "goodbye"}


def asks_about_the_queue(tracker: Tracker) -> bool:
    """Whether the latest message asks about a place in line: the words the waiting room answers with the
    place while the customer is queued (``place_words`` in content/waiting_room.yml)."""
    return says_any(tracker, list(load_waiting_room().place_words))


TRAILING_CALM = " \t\n。.~～…"  # after a question's end: "还在排队吗。" still asks; "！" does not strip


def asks_whether_queued(tracker: Tracker) -> bool:
    """Whether the latest message is a question about a place in line: ``place_words`` and one of the
    waiting room's ``question_ends`` at its end. The NLU reads "还在排队吗" as a complaint; a complaint about the
    queue ("排了半天队也没人理，太慢了") asks nothing and stays one."""
    text = latest_text(tracker).rstrip(TRAILING_CALM).casefold()
    ends = [end.casefold() for end in load_waiting_room().question_ends if end]
    return asks_about_the_queue(tracker) and any(text.endswith(end) for end in ends)


def leaves_a_queue(tracker: Tracker) -> bool:
    """Whether the latest message asks to leave the queue (the waiting room's ``leave_words``: 取消排队, 不等了), said
    to the assistant: whoever it answers is not queued."""
    return says_any(tracker, list(load_waiting_room().leave_words))


def tell_not_waiting(dispatcher: CollectingDispatcher) -> list[dict[str, Any]]:
    """A customer the assistant answers asks about their place in line: whoever it answers is not queued
    (queueing pauses it), so they hear so, with a person offered (utter_not_waiting's button)."""
    dispatcher.utter_message(response="utter_not_waiting")
    return [SlotSet("awaiting", None), SlotSet("pending_request", None)]


def user_intents(tracker: Tracker) -> list[str]:
    return [((e.get("parse_data") or {}).get("intent") or {}).get("name") or ""
            for e in tracker.events if e.get("event") == "user"]


def topic_intent(tracker: Tracker) -> str | None:
    """The latest intent that says what the customer needs (routes to a skill group)."""
    return next((i for i in reversed(user_intents(tracker)) if i and i not in NOT_A_TOPIC), None)


def handoff_reason(tracker: Tracker, rules: HandoffRules, customer: Customer | None) -> str:
    intents = user_intents(tracker)
    if customer and customer.vip_tier >= rules.direct_min_vip_tier:
        return "vip_direct"
    if float(tracker.get_slot("selfhelp_failures") or 0) >= rules.selfhelp_failures_before_offer:
        return "selfhelp_failed"
    if "complaint" in intents:
        return "complaint"
    if intents[-3:-1].count("nlu_fallback") >= 2 or intents[-2:].count("nlu_fallback") >= 2:
        return "fallback"
    return "request_human"


PHONE_CHANNEL = "ivr"  # bot/ivr/bot_turns.py: its turns' metadata is the call engine's, not a client's


def _metadata_phone(tracker: Tracker) -> str | None:
    return local_phone(((tracker.latest_message or {}).get("metadata") or {}).get("phone"))


def reported_number(tracker: Tracker) -> str | None:
    """The caller's own line, from the phone channel only: the call engine puts it in the turn's
    metadata only when the trunk vouched for it (or Kefu dialled it), and the waiting room may call
    it back. It proves nothing about the account (identification reads the signed claim)."""
    return _metadata_phone(tracker) if channel_of(tracker) == PHONE_CHANNEL else None


def claimed_number(tracker: Tracker) -> str | None:
    """A ``metadata.phone`` any other channel's client sent: its own choice (found by a tester: a REST
    client's planted number was shown to the agent like a caller's line, revealable and callable).
    The packet keeps it apart (``claimed_phone``): masked, marked unverified, never revealed,
    texted or called back."""
    return _metadata_phone(tracker) if channel_of(tracker) != PHONE_CHANNEL else None


async def known_vip_tier(tracker: Tracker) -> int:
    """The tier of a customer who proved who they are, without asking anyone (a claim gets no VIP treatment)."""
    try:
        customer = await verified_customer(tracker)
    except DatabaseError:
        return 0
    return customer.vip_tier if customer else 0


async def offer_human(dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict, response: str,
                      events: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Offer a human with ``response`` — or transfer at once for top-tier customers."""
    events = list(events or [])
    if await known_vip_tier(tracker) >= load_rules().direct_min_vip_tier:
        return await continue_with("action_request_human", dispatcher, tracker, domain, events)
    dispatcher.utter_message(response=response)
    return events + [SlotSet("awaiting", "offer_human")]


def session_started(tracker: Tracker) -> dt.datetime | None:
    """The oldest a ticket filed in the conversation's latest session can look (``session_start_bound``);
    the tracker holds that session only (``bot.tracker_store``). None without a timestamp to read."""
    stamps = [e.get("timestamp") for e in tracker.events if e.get("event") == "session_started"]
    return session_start_bound(stamps[-1] if stamps and isinstance(stamps[-1], (int, float)) else None)


def this_session(tracker: Tracker, tickets: list[dict], customer: Customer | None) -> list[dict]:
    """The proven customer's tickets, and those filed in this conversation in its latest session. A web
    chat keeps its id after a session ends (the next person at a tab left open is in it): the earlier
    customer's tickets filed in it (a visit, its time and words) were the next one's agent's to read,
    with verification and the transcript started over (found in a security review)."""
    started = session_started(tracker)
    return [t for t in tickets if started is None or (customer is not None and t["customer_id"] == customer.id)
            or t["created_at"] >= started]


async def keep_number_given(queue, tracker: Tracker) -> None:
    """The mobile number the customer typed in this session (a complaint filed on it, say) is where a callback or a
    message booked while waiting reaches them, as one typed in the waiting room is (``callback_phone``): found in a
    live trial, the waiting room asked for the number just given. A proven customer's registered number and a
    caller's own line still come first (bot.handoff.waiting_tickets.known_phone); the booking names the number, masked."""
    number = str(tracker.get_slot("phone_number") or "")
    if load_waiting_room().phone_pattern.match(number):
        await queue.redis.hset(keys.conversation(tracker.sender_id), "callback_phone", number)


class ActionRequestHuman(Action):
    def name(self) -> str:
        return "action_request_human"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        rules = load_rules()
        try:
            customer = await verified_customer(tracker)  # the agent sees only a proven customer
            # ... and their open tickets; an unproven one's only those filed in this very conversation, not
            # the named customer's repair their report joined (``last_ticket_id``, told to nobody but by SMS
            # to its owner): the agent saw its summary and visit time (found in a security review)
            tickets = this_session(tracker, await db(repository().tickets_for, customer.id if customer else None,
                                                     open_only=True, conversation_id=tracker.sender_id), customer)
            repeat = customer is not None and await db(
                repeat_contact, get_settings().database_url, customer.id, rules.repeat_window_hours,
                exclude_conversation=tracker.sender_id)
        except DatabaseError:
            customer, tickets, repeat = None, [], False
        intents = user_intents(tracker)
        # Every fault still in play, not only the one in hand (found by the maintainers: 电视和宽带都不行了, the TV
        # not fixed, was queued for the broadband's agents when the broadband's self-help failed too).
        skill = rules.skill_for_faults(topic_intent(tracker), faults_of(tracker.slots))
        priority = rules.priority_for(customer.vip_tier if customer else 0, repeat, "complaint" in intents)
        channel = channel_of(tracker) or "rest"
        titles, faults = catalogue().titles_and_faults()
        reason = handoff_reason(tracker, rules, customer)
        queue = queue_from_settings()
        try:
            result = await request_handoff(
                conversation_id=tracker.sender_id, channel=channel, skill=skill, priority=priority, reason=reason,
                customer=dataclasses.asdict(customer) if customer else None, phone=reported_number(tracker),
                claimed_phone=claimed_number(tracker),
                events=tracker.events, slots=tracker.slots, open_tickets=tickets, titles=titles,
                faults=faults, queue=queue)
        except (RedisError, OSError):
            logger.exception("handoff.queue.unavailable conversation=%s", tracker.sender_id)
            dispatcher.utter_message(response="utter_handoff_unavailable")
            return [SlotSet("awaiting", None)]
        position = result.position
        try:
            await keep_number_given(queue, tracker)
        except RedisError:  # not kept: the waiting room asks for the number, as before
            logger.warning("handoff.number_unkept conversation=%s", tracker.sender_id)
        try:  # the customer is queued now: never tell them otherwise, whatever the roster says
            available = await queue.roster.capacity_for(skill) > 0
        except (RedisError, OSError):  # unknown: give the estimate; the waiting room corrects it once Redis answers
            logger.warning("handoff.roster.unreadable conversation=%s", tracker.sender_id)
            available = True
        await record(tracker, "handoff_requested", skill=skill, priority=priority, reason=reason,
                     fault_type=tracker.get_slot("fault_type"), selfhelp_sent=tracker.get_slot("selfhelp_sent") or [],
                     customer_id=tracker.get_slot("customer_id"))
        minutes = wait_minutes(position.estimated_wait_s)
        opens_at = None if available else agents_back_at(queue.clock())
        if available:
            dispatcher.utter_message(response="utter_queued", position=position.position, wait_minutes=minutes)
            dispatcher.utter_message(json_message={"kind": "queue_status", "position": position.position,
                                                   "wait_minutes": minutes})
        else:  # no estimate to give: say so (when the agents are back, at night), and offer a callback or a message
            if opens_at is None:
                dispatcher.utter_message(response="utter_queue_nobody_available")
            else:
                dispatcher.utter_message(response="utter_queue_after_hours", opens_at=opens_at)
            dispatcher.utter_message(json_message={"kind": "queue_status", "position": position.position,
                                                   "wait_minutes": None, "agents_available": False})
        try:  # the waiting room repeats nothing the customer has just been told
            await remember_notice(queue, tracker.sender_id,
                                  notice_state(position.position, minutes, available, opens_at))
        except RedisError:
            logger.warning("handoff.notice.unrecorded conversation=%s", tracker.sender_id)
        events = identified(customer) if customer else []
        return events + [SlotSet("handoff_requested", True), SlotSet("awaiting", None), ConversationPaused()]
