"""A fault reported while its repair is still open joins that repair instead of opening another.

Customers chasing a repair ("你们什么时候解决我宽带问题,也没人联系我") mostly describe the fault
again, and the NLU often reads them as the fault, not as a ticket question. Either way the chase is
written on the open repair and makes it more urgent — no second ticket. A verified customer is told
which repair it is. Someone who only gave a number hears one reply whether the repair is new or was
already open, so typing another person's number tells nothing about their repairs (README,
"Security"); the ticket goes by SMS to the registered number, unless its owner opted out of our texts (the
ticket's history then says so). A verified customer already known at triage (caller ID, a bound WeChat account)
skips the self-help video for a fault a technician is already on. A repair this very conversation filed (or
joined) is told again, proven or not, when the customer asks for it once more ("嗯 报修吧", the fault tapped
again): whoever is typing heard of it already, so it tells them nothing new (``repair_told_here``).
"""
from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from redis.exceptions import RedisError

from actions.backend import channel_of, db, labels, record, repository, says_any
from actions.identity import customer_words, establish, identified, named_by_account, typed_number
from actions.kept_requests import FILING
from bot.db.repository import MOST_URGENT, OPEN_TICKET_STATUSES, Customer, DatabaseError
from bot.handoff.masking import mask_phone
from bot.notify import NotifyError, OutboxNotifier, Withheld
from bot.repair_faults import repairs
from bot.settings import get_settings
from bot.ticket_notes import history_note

logger = logging.getLogger(__name__)

CHASE_SMS_EVERY_S = 3600


def open_repair(tickets: list[dict], fault_type: str) -> dict | None:
    """The newest open repair ticket for this kind of fault, from a customer's open tickets (one filed for two
    faults is either's)."""
    return next((t for t in tickets if repairs(t, fault_type)), None)


CHASED = "utter_fault_ticket_chased"


async def chase_repair(dispatcher: CollectingDispatcher, tracker: Tracker, customer: Customer,
                       fault_type: str | None, verified: bool,
                       reply: str | None = CHASED) -> list[dict[str, Any]] | None:
    """Join the customer's open repair of ``fault_type`` and say so (``reply``, the ticket's id filled; None: the
    caller says it, with more); None when there is none."""
    if not fault_type:
        return None
    repair = open_repair(await db(repository().tickets_for, customer.id, open_only=True), fault_type)
    if repair is None:
        return None
    ticket_id = repair["ticket_id"]
    await join_ticket(tracker, repair, history_note("reported_again", channel=channel_of(tracker),
                                                    said=customer_words(tracker)[:200]))
    if not verified:
        return await tell_unproven(dispatcher, tracker, customer, [("repair_chased", ticket_id)])
    if reply:
        dispatcher.utter_message(response=reply, ticket_id=ticket_id)
    return [SlotSet("last_ticket_id", ticket_id), SlotSet("awaiting", None)]


async def join_open_repairs(tracker: Tracker, customer: Customer,
                            faults: list[str]) -> tuple[list[tuple[str, str]], list[str]]:
    """Faults named together (电视和宽带都不行了) at the repair ticket: each one whose repair is open joins it, as
    ``chase_repair`` joins one. The (fault, ticket id) joined, and the faults left for a new repair."""
    tickets = await db(repository().tickets_for, customer.id, open_only=True)
    joined: list[tuple[str, str]] = []
    left: list[str] = []
    for fault in faults:
        repair = open_repair(tickets, fault)
        if repair is None:
            left.append(fault)
            continue
        if repair["ticket_id"] not in {ticket_id for _, ticket_id in joined}:
            await join_ticket(tracker, repair, history_note("reported_again", channel=channel_of(tracker),
                                                            said=customer_words(tracker)[:200]))
        joined.append((fault, repair["ticket_id"]))
    return joined, left


async def join_ticket(tracker: Tracker, ticket: dict, note: str, most_urgent: int = MOST_URGENT) -> None:
    """The customer asked again for what ``ticket`` already asks: a history row with their words
    (``note``, from ``bot.ticket_notes.history_note``),
    one step more urgent, and a ``ticket_chased`` outcome event. Repairs, visits, complaints and
    callbacks all join their open ticket this one way, instead of opening a second one. A request kept
    while the database was down joins once (``actions.kept_requests``): filed again after its drainer
    died, it finds its id in the ticket and neither notes nor records the chase a second time."""
    if not await db(repository().chase_ticket, ticket["ticket_id"], note, most_urgent=most_urgent,
                    kept_request=FILING.get()):
        return
    await record(tracker, "ticket_chased", ticket_id=ticket["ticket_id"], kind=ticket["kind"])


async def tell_unproven(dispatcher: CollectingDispatcher, tracker: Tracker, customer: Customer,
                        filed: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """The reply to a repair from someone who only gave a number: one and the same for new and chased
    repairs, one or several, each ticket (a (``template`` of content/outbound.yml, ticket id) of ``filed``)
    by SMS to the registered number, shown masked only to whoever typed a phone number, never after an
    account number."""
    for template, ticket_id in filed:
        try:
            if template != "repair_chased" or await first_chase_sms_this_hour(ticket_id):
                await OutboxNotifier.from_settings(get_settings(), repository()).send_template(
                    customer.phone, "sms", template, customer_id=customer.id, ticket_id=ticket_id)
        except Withheld as exc:  # the owner opted out of our texts: the ticket's history says so (bot.notify)
            logger.info("repair.sms_withheld conversation=%s ticket=%s reason=%s", tracker.sender_id, ticket_id,
                        exc.reason)
        except NotifyError as exc:
            logger.warning("repair.sms_failed conversation=%s ticket=%s error=%s", tracker.sender_id, ticket_id, exc)
    if named_by_account(tracker, typed_number(tracker)):
        dispatcher.utter_message(response="utter_fault_report_taken_registered_phone")
    else:
        dispatcher.utter_message(response="utter_fault_report_taken", phone=mask_phone(customer.phone or ""))
    return [SlotSet("last_ticket_id", filed[-1][1]), SlotSet("awaiting", None)]


async def first_chase_sms_this_hour(ticket_id: str) -> bool:
    """A repair's owner gets at most one chase SMS an hour (kept in Redis): a customer chasing again
    and again, or someone typing their number again and again, must not flood their phone. Without
    Redis the SMS goes: a lost notice is worse than a second one."""
    from bot.handoff.queue import redis_from_settings

    try:
        return bool(await redis_from_settings().set(f"kefu:repair-sms:{ticket_id}", "1", nx=True,
                                                    ex=CHASE_SMS_EVERY_S))
    except RedisError:
        logger.warning("repair.sms_limit_unavailable ticket=%s", ticket_id)
        return True


async def chase_if_known(dispatcher: CollectingDispatcher, tracker: Tracker,
                         fault_type: str, reply: str | None = CHASED) -> list[dict[str, Any]] | None:
    """At triage: the repair of this fault this conversation filed already is told again (``repair_told_here``;
    found trying the chat: "嗯 报修吧" then the fault tapped, from someone who had typed an account number, got the
    fault's triage and self-help again). Otherwise, when this turn already proves who the customer is (caller ID, a
    bound WeChat account, a code passed earlier) and their repair of this fault is open, join it. Never asks
    anyone; a database that cannot answer leaves triage as it was. ``reply`` None: the caller tells the repair
    (its id), with more; then only for a proven customer.
    """
    try:
        who = await establish(tracker)
        proven = who.customer is not None and who.verified
        silent = not reply  # the caller tells the repair (read only so: the reply sent below is chase_repair's)
        told = await repair_told_here(dispatcher, tracker, who.customer, fault_type, proven, silent) \
            if proven or not silent else None
        if told is not None:
            return (who.events + identified(who.customer, who.verified) if proven else []) + told
        if not proven:
            return None
        chased = await chase_repair(dispatcher, tracker, who.customer, fault_type, verified=True, reply=reply)
    except DatabaseError:
        return None
    return None if chased is None else who.events + identified(who.customer, who.verified) + chased


FILED_HERE = "utter_repair_filed_already"
FILED_HERE_UNPROVEN = "utter_repair_filed_already_unproven"


def tickets_told_this_session(tracker: Tracker) -> list[str]:
    """The tickets this conversation filed or told of in this session (``last_ticket_id`` set), newest first: a
    conversation's id lasts (a WeChat account's, a phone number's), and the same fault reported the next day is a
    chase, which ``chase_repair`` notes on the repair and makes more urgent, not the same request asked for twice
    (found in review: a repair filed the day before was told "already filed" once another was told today)."""
    told = []
    for event in reversed(tracker.events):
        if event.get("event") == "session_started":
            break
        if event.get("event") == "slot" and event.get("name") == "last_ticket_id" and event.get("value"):
            told.append(event["value"])
    return list(dict.fromkeys(told))


async def filed_here(tracker: Tracker, customer: Customer | None, fault_type: str | None) -> dict | None:
    """The open repair of ``fault_type`` on ``customer``'s account that this conversation filed, or joined and was
    told of, in this session (``tickets_told_this_session``); None when there is none, or the conversation is about
    someone else now (a number of another customer typed). Raises DatabaseError."""
    if not fault_type or customer is None:
        return None
    for ticket_id in tickets_told_this_session(tracker):
        ticket = await db(repository().get_ticket, ticket_id)
        if (ticket is not None and ticket["status"] in OPEN_TICKET_STATUSES and ticket["customer_id"] == customer.id
                and repairs(ticket, fault_type)):
            return ticket
    return None


async def repair_told_here(dispatcher: CollectingDispatcher, tracker: Tracker, customer: Customer | None,
                           fault_type: str | None, proven: bool, silent: bool = False) -> list[dict[str, Any]] | None:
    """The repair of ``fault_type`` this conversation filed already (``filed_here``), asked for again: said to be
    registered, its id to a ``proven`` customer only (someone who only typed a number was not told it: the reply
    to a new repair and a joined one is the same), and the visit offered again. Neither noted on the ticket nor
    made more urgent: it is the same request, not a chase. None when there is none. ``silent``: nothing said (the
    caller tells it). Raises DatabaseError."""
    repair = await filed_here(tracker, customer, fault_type)
    if repair is None:
        return None
    if not silent and proven:
        dispatcher.utter_message(response=FILED_HERE, ticket_id=repair["ticket_id"])
    elif not silent:  # not even in the message's data: someone who only typed a number was never told the id
        dispatcher.utter_message(response=FILED_HERE_UNPROVEN)
    return [SlotSet("last_ticket_id", repair["ticket_id"]), SlotSet("awaiting", None)]


class ActionAskWhichFault(Action):
    """"我要报修" without saying what is broken: which fault, unless the fault talked about has its repair filed in
    this conversation already ("嗯 报修吧" to "需要预约上门时间或转人工客服吗？"): that repair is told again, never a
    second triage (found trying the chat: it asked which fault, and the fault tapped got its self-help again)."""

    def name(self) -> str:
        return "action_ask_which_fault"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        if says_any(tracker, labels().get("another_fault_words")):  # "另外我还要报修一个": not the one filed
            dispatcher.utter_message(response="utter_ask_which_fault")
            return []
        try:
            who = await establish(tracker)
            told = await repair_told_here(dispatcher, tracker, who.customer, tracker.get_slot("fault_type"),
                                          who.customer is not None and who.verified)
        except DatabaseError:
            told = None
        if told is not None:
            return told
        dispatcher.utter_message(response="utter_ask_which_fault")
        return []
