"""Technician visits (上门): booking one, changing the one booked, and questions about them.

One visit per problem: a visit asked for while one is booked changes it; while the last is done
but not yet followed up, or while none is booked and the customer asks about one ("师傅什么时候上门"),
the customer hears how things stand and a technician is sent only on a yes. A day the customer
names becomes the visit's promised time (``details.visit_time``, actions/visit_time.py), told back
as it is kept. On the phone that day comes from the speech recogniser, so it is read back and
confirmed (yes/no, or a key) before a visit is booked or changed; a no asks for the time again.
"""
from __future__ import annotations

import datetime as dt

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.acknowledge import AcknowledgeFirst
from actions.backend import channel_of, db, labels, last_said, latest_text, names_any, record, repository
from actions.identity import (NOT_A_REQUEST, IdentifiedAction, customer_words, request_event, request_text,
                              without_secrets)
from actions.new_install import NEW_INSTALL, ActionNewInstall, asks_new_install
from actions.repairs import join_ticket
from actions.ticket_records import newest, open_ticket, progress_note, status_label
from actions.visit_time import asked_time
from bot.analytics.config import centre_zone
from bot.db.repository import Customer
from bot.labels import ticket_summary
from bot.ticket_notes import history_note

# ``awaiting`` values: the question the bot asked last about a visit.
VISIT_AGAIN = "visit_again"  # "book another visit?" after the last one was done, or with none booked
VISIT_TIME = "visit_time"  # on the phone: "is this the time you said?"

OPEN = ("open", "assigned")
CLOSED = ("follow_up_done",)  # the last lifecycle step: resolved and customer_told still await their follow-up

BOOK_AGAIN = "utter_visit_done_book_again"
BOOK_NONE = "utter_visit_none_book"
BOOK_NONE_REPAIR = "utter_visit_none_book_repair"
NONE_INSTALL = "utter_visit_none_install"
CONFIRM_NEW = "utter_visit_time_confirm"
CONFIRM_CHANGE = "utter_visit_time_confirm_change"
ASK_TIME_AGAIN = "utter_visit_time_ask_again"
BOOK_QUESTIONS = (BOOK_AGAIN, BOOK_NONE, BOOK_NONE_REPAIR)
TIME_QUESTIONS = (CONFIRM_NEW, CONFIRM_CHANGE, ASK_TIME_AGAIN)
PHONE = "ivr"
CHANGE_REQUESTED = "visit_change_requested"  # details: the customer's words asking to move it, no day named
CANCEL_REQUESTED = "visit_cancel_requested"  # details: the customer's words calling it off


def just_asked(tracker: Tracker, *responses: str) -> bool:
    """Whether the bot's last words were one of ``responses``: a yes answers only the question just
    asked, not one left in ``awaiting`` from turns ago."""
    return last_said(tracker) in responses


def said_yes(tracker: Tracker, awaiting: str, questions: tuple[str, ...]) -> bool:
    """The customer's latest message is a yes to one of ``questions``, just asked."""
    intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
    return intent == "affirm" and tracker.get_slot("awaiting") == awaiting and just_asked(tracker, *questions)


def centre_now() -> dt.datetime:
    return dt.datetime.now(centre_zone())


def time_asked(text: str, said_at: dt.datetime | None = None) -> str | None:
    """The visit time ``text`` named when it was said (``said_at``, default now), as the customer is
    told it, or None."""
    return asked_time(text, said_at or centre_now(), labels()["visit_when"])


def time_still_ahead(text: str, said_at: dt.datetime | None) -> str | None:
    """The visit time ``text`` named when it was said, or None when it is over by now: the time a visit
    is booked or moved to, once agreed to (the technician rings to agree one instead)."""
    return asked_time(text, centre_now(), labels()["visit_when"], said=said_at)


def said_at(event: dict) -> dt.datetime | None:
    """When a user event was said, on the centre's clock (None without its timestamp)."""
    stamp = event.get("timestamp")
    return dt.datetime.fromtimestamp(stamp, centre_zone()) if isinstance(stamp, (int, float)) else None


def booking_request(tracker: Tracker) -> tuple[str, dt.datetime | None]:
    """The words the visit is booked or changed with, and when they were said: past a yes (or a no, a
    number), the request it answers — the latest message read as a visit request, or one naming a day (a
    time said again after a no). Never words from before that request: a yes to "none booked: book one?"
    asked after "师傅什么时候上门" took the day from the fault reported earlier ("从周一就没信号了": next
    Monday). Anything else said between a visit request and its yes (or its proof) is passed over. When:
    "明天" said at 23:59 and confirmed after midnight is the day after it was said, not after the yes."""
    answering = said_yes(tracker, VISIT_AGAIN, BOOK_QUESTIONS)
    for event in reversed(tracker.events):
        if event.get("event") != "user":
            continue
        text = event.get("text") or ""
        intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
        if intent == "book_visit" or (not text.startswith("/") and time_asked(text, said_at(event))):
            return without_secrets(text), said_at(event)
        if answering and intent not in NOT_A_REQUEST and text and not text.startswith(("/", "#")):
            break  # the request the question "book one?" answered, and it names no day
    return customer_words(tracker), None  # a yes to "none booked: book one?" asked after a progress question


def names_visit_words(text: str, key: str) -> bool:
    """Whether ``text`` has a word of the visit list ``key``, not where it is part of a ``plan_end_words`` or a
    ``not_visit_words`` word: 什么时候到 lies inside 什么时候到期, and "师傅说宽带什么时候到期…" asked no visit;
    还没到 runs into 到期 in "宽带还没到期怎么就停了" (found in review)."""
    words = labels()
    whole = [*(words.get("plan_end_words") or ()), *(words.get("not_visit_words") or ())]
    return names_any(text, words.get(key), whole=whole)


def asks_about_a_visit(text: str) -> bool:
    """Words that take a booked visit for granted (``visit_question`` in content/labels.yml)."""
    return names_visit_words(text, "visit_question")


def asks_to_cancel(text: str, tracker: Tracker) -> bool:
    """Words calling a visit off ("师傅不用来了", "帮我把上门取消掉"): a ``visit_cancel_words`` word and a
    ``visit_named`` one (content/labels.yml), or only the first in a message read as about a visit that names no
    new time ("算了 不用来了 取消吧", right after the visit was booked: it fell back, and read as a visit request it
    was noted as a change of time). Read as a service change, "另外把彩铃取消了" is not about the visit. Found trying
    the chat: read as a service change they were filed as a request to cancel a service and the visit stayed
    booked; read as a visit request the customer heard "我来为您安排师傅上门" and the technician would ring to agree
    a new time."""
    words = labels()
    if not names_any(text, words.get("visit_cancel_words")) or names_any(text, words.get("visit_kept_words")):
        return False
    return names_any(text, words.get("visit_named")) or (read_as_visit(tracker) and not asks_to_move(text))


# Replies telling the customer their visit's time: "算了 不用来了 网好了" right after one is about that visit (found in a
# live trial: read as nothing in particular, it got "抱歉，我没太明白").
VISIT_TOLD = frozenset({"utter_visit_booked", "utter_visit_booked_at", "utter_visit_time_changed",
                        "utter_visit_change_noted"})


def visit_just_told(tracker: Tracker) -> bool:
    return last_said(tracker) in VISIT_TOLD


def calls_the_visit_off(tracker: Tracker) -> bool:
    """Whether words the NLU could not place, said right after the visit's time was told, call it off: a word of
    ``visit_not_coming_words`` ("算了 不用来了 网好了"), not any cancel word ("纸质发票不要了")."""
    text = latest_text(tracker)
    return (visit_just_told(tracker) and names_any(text, labels().get("visit_not_coming_words"))
            and asks_to_cancel(text, tracker))


def read_as_visit(tracker: Tracker) -> bool:
    """Whether the NLU read the request as about a visit, or as nothing in particular right after a visit's time was
    told ("算了 不用来了 网好了"): then 取消 alone can only mean the visit. Read as a service change, it is that."""
    intent = ((request_event(tracker).get("parse_data") or {}).get("intent") or {}).get("name")
    return intent == "book_visit" or (intent == "nlu_fallback" and visit_just_told(tracker))


def asks_to_move(text: str) -> bool:
    """A new time or a change named ("取消原来的时间 改到周六"): the visit is moved, not called off."""
    return names_any(text, labels().get("visit_change_words")) or time_asked(text) is not None


async def cancel_visit(dispatcher: CollectingDispatcher, tracker: Tracker, booked: dict, text: str) -> list[dict]:
    """The cancellation is noted on the visit booked with the customer's words (``details.visit_cancel_requested``),
    so the dispatch system, which holds the technician's appointment, hears of it (``ticket_updated``)."""
    await db(repository().update_ticket_details, booked["ticket_id"], {CANCEL_REQUESTED: text[:200]},
             history_note("visit_cancel", channel=channel_of(tracker), said=text[:200]))
    dispatcher.utter_message(response="utter_visit_cancel_noted", ticket_id=booked["ticket_id"],
                             status_label=status_label(booked), request=text[:60])
    return [SlotSet("last_ticket_id", booked["ticket_id"]), SlotSet("awaiting", None)]


async def cancelled_if_asked(dispatcher: CollectingDispatcher, tracker: Tracker, customer: Customer,
                             service_change: bool) -> list[dict] | None:
    """The visit booked called off, when the request's words ask that; with none booked, that none is, unless
    the request is a service change and a new install is still being arranged ("取消装机" calls that off: None)."""
    text = request_text(tracker)
    if not asks_to_cancel(text, tracker):
        return None
    tickets = await db(repository().tickets_for, customer.id)
    booked = newest(tickets, "visit", OPEN)
    if booked is not None:
        return await cancel_visit(dispatcher, tracker, booked, text)
    if service_change and pending_install(tickets) is not None:
        return None
    dispatcher.utter_message(response="utter_visit_cancel_none")
    return [SlotSet("awaiting", None)]


def asks_how_it_stands(text: str) -> bool:
    """A question about the visit booked ("师傅什么时候上门", "上门的时间改好了吗") that asks for no change
    (``visit_progress_question`` and ``visit_change_words`` in content/labels.yml)."""
    return (names_visit_words(text, "visit_progress_question")
            and not names_any(text, labels().get("visit_change_words")))


async def tell_booked(dispatcher: CollectingDispatcher, tracker: Tracker, booked: dict) -> list[dict]:
    """The visit booked and its time, as the progress answer tells it. Found in review: the question was
    noted on the visit as the customer asking to move it, and the dispatch system heard of a change."""
    words = labels()
    dispatcher.utter_message(response="utter_ticket_status", ticket_id=booked["ticket_id"],
                             kind_label=words["ticket_kind"].get(booked["kind"], booked["kind"]),
                             status_label=status_label(booked), summary=progress_note(booked, words))
    await record(tracker, "answer_given", topic="ticket_status")
    return [SlotSet("last_ticket_id", booked["ticket_id"]), SlotSet("awaiting", None)]


async def progress_of_no_visit(dispatcher: CollectingDispatcher, tracker: Tracker,
                               customer: Customer) -> list[dict] | None:
    """A progress question about the technician ("师傅什么时候上门", which the NLU often reads as a ticket
    question) while no visit is booked: the answer asking for a visit gets, so the customer hears that
    none is booked whichever way the NLU read them. None when it names no technician or a visit exists."""
    text = request_text(tracker)
    named = names_any(text, labels().get("visit_named"))
    if not (named and asks_about_a_visit(text)):
        return None
    tickets = await db(repository().tickets_for, customer.id)
    if newest(tickets, "visit", unless=CLOSED) is not None:
        return None
    return await tell_none_booked(dispatcher, tracker, tickets)


class ActionBookVisit(AcknowledgeFirst, IdentifiedAction):
    request = "book_visit"
    acknowledgement = "utter_ack_visit"
    acknowledgement_otherwise = "utter_ack_visit_cancel"  # "帮我把上门取消掉"

    def name(self) -> str:
        return "action_book_visit"

    def asks_otherwise(self, tracker: Tracker) -> bool:
        return asks_to_cancel(request_text(tracker), tracker)

    async def run(self, dispatcher, tracker, domain):
        # "新房子要装宽带 约个时间": a new install with a time in mind, by someone who is usually no customer
        # yet: taken as one (any number to call back; their words, the time too, go on the ticket).
        if asks_new_install(tracker):
            return await ActionNewInstall().run(dispatcher, tracker, domain)
        return await super().run(dispatcher, tracker, domain)

    async def serve(self, dispatcher, tracker, customer, verified):
        cancelled = await cancelled_if_asked(dispatcher, tracker, customer, service_change=False)
        if cancelled is not None:
            return cancelled
        text, said = booking_request(tracker)
        when = time_still_ahead(text, said)
        time_confirmed = said_yes(tracker, VISIT_TIME, (CONFIRM_NEW, CONFIRM_CHANGE))
        tickets = await db(repository().tickets_for, customer.id)
        booked = newest(tickets, "visit", OPEN)
        if booked is not None and booked_by(booked, tracker, text):  # this request, run again or said twice
            told_booked(dispatcher, booked["ticket_id"], customer, (booked.get("details") or {}).get("visit_time"))
            return [SlotSet("last_ticket_id", booked["ticket_id"]), SlotSet("awaiting", None)]
        if booked is not None:  # "改到周六下午": the visit booked already changes, no second one
            if when and channel_of(tracker) == PHONE and not time_confirmed:
                return ask_to_confirm(dispatcher, CONFIRM_CHANGE, when, booked["ticket_id"])
            # "师傅什么时候上门", or the 预约上门 button (its payload says no words): how it stands, no change
            if not when and (asks_how_it_stands(text) or text.startswith("/")):
                return await tell_booked(dispatcher, tracker, booked)
            return await change_visit(dispatcher, tracker, booked, text, when)
        done = newest(tickets, "visit", unless=CLOSED)
        # A day named in answer to "book one?" is a yes with its time: "能不能改到周六上午" got "none booked:
        # book one?" again (found trying the chat).
        wanted = (time_confirmed or said_yes(tracker, VISIT_AGAIN, BOOK_QUESTIONS)
                  or bool(when and tracker.get_slot("awaiting") == VISIT_AGAIN and just_asked(tracker, *BOOK_QUESTIONS)))
        if done is not None and not wanted:
            # Found by a tester: "师傅上门的时间改好了吗", after the visit was done, dispatched a second
            # technician unasked. The customer hears how their visit stands, and a new one only on a yes.
            dispatcher.utter_message(response=BOOK_AGAIN, ticket_id=done["ticket_id"],
                                     status_label=status_label(done))
            await record(tracker, "answer_given", topic="ticket_status")
            return [SlotSet("last_ticket_id", done["ticket_id"]), SlotSet("awaiting", VISIT_AGAIN)]
        if done is None and not wanted and asks_about_a_visit(text):
            # Found by a journey tester: "师傅什么时候上门" with no visit booked booked one.
            return await tell_none_booked(dispatcher, tracker, tickets)
        if when and channel_of(tracker) == PHONE and not time_confirmed:
            return ask_to_confirm(dispatcher, CONFIRM_NEW, when)
        return await book_visit(dispatcher, tracker, customer, repair_for(tickets, done, tracker), text, when,
                                verified)


def ask_to_confirm(dispatcher: CollectingDispatcher, question: str, when: str, ticket_id: str = "") -> list[dict]:
    """Read the time the recogniser heard back to the caller; nothing changes before their yes."""
    dispatcher.utter_message(response=question, visit_time=when, **({"ticket_id": ticket_id} if ticket_id else {}))
    return [SlotSet("awaiting", VISIT_TIME)]


async def change_visit(dispatcher: CollectingDispatcher, tracker: Tracker, booked: dict, text: str,
                       when: str | None) -> list[dict]:
    """The change is noted on the visit booked, with the customer's words; a day they named becomes
    its promised time, told back as kept, and words naming none are kept as the change asked for
    (``details.visit_change_requested``). Either way the dispatch system hears of it, and a cancellation asked
    for before is withdrawn (the customer wants the visit after all)."""
    channel = channel_of(tracker)
    await join_ticket(tracker, booked, history_note("visit_change", channel=channel, said=text[:200]), most_urgent=0)
    if when:  # the new time answers any change asked for earlier without a day
        await db(repository().update_ticket_details, booked["ticket_id"],
                 {"visit_time": when, CHANGE_REQUESTED: None, CANCEL_REQUESTED: None},
                 history_note("visit_time_changed", channel=channel, when=when))
        dispatcher.utter_message(response="utter_visit_time_changed", ticket_id=booked["ticket_id"],
                                 status_label=status_label(booked), visit_time=when)
    else:
        # The customer hears the technician will ring to agree a new time: the dispatch system, which
        # holds the appointment, hears it too (``ticket_updated``), else the technician came as booked.
        await db(repository().update_ticket_details, booked["ticket_id"], {CHANGE_REQUESTED: text[:200], CANCEL_REQUESTED: None},
                 history_note("visit_change_requested", channel=channel))
        dispatcher.utter_message(response="utter_visit_change_noted", ticket_id=booked["ticket_id"],
                                 status_label=status_label(booked), request=text[:60])
    return [SlotSet("last_ticket_id", booked["ticket_id"]), SlotSet("awaiting", None)]


async def tell_none_booked(dispatcher: CollectingDispatcher, tracker: Tracker, tickets: list[dict]) -> list[dict]:
    """No visit is booked: say so, how the customer's open repair stands, and ask before booking one. With no repair
    open but a new install still being arranged ("安装师傅什么时候来"), how that stands: its time is agreed by the account
    manager's call, so no visit is offered (a visit booked here would belong to no repair)."""
    repair = newest(tickets, "fault", OPEN)
    install = None if repair is not None else pending_install(tickets)
    if install is not None:
        dispatcher.utter_message(response=NONE_INSTALL, ticket_id=install["ticket_id"],
                                 status_label=status_label(install))
        await record(tracker, "answer_given", topic="ticket_status")
        return [SlotSet("last_ticket_id", install["ticket_id"])]
    if repair is not None:
        dispatcher.utter_message(response=BOOK_NONE_REPAIR, ticket_id=repair["ticket_id"],
                                 status_label=status_label(repair))
    else:
        dispatcher.utter_message(response=BOOK_NONE)
    await record(tracker, "answer_given", topic="ticket_status")
    return [SlotSet("awaiting", VISIT_AGAIN)] + (
        [SlotSet("last_ticket_id", repair["ticket_id"])] if repair is not None else [])


def pending_install(tickets: list[dict]) -> dict | None:
    """The customer's newest new install still being arranged (``action_new_install``'s service change)."""
    return next((t for t in tickets if t["kind"] == "service_change" and t["status"] in OPEN
                 and (t.get("details") or {}).get("service_action") == NEW_INSTALL), None)


def repair_for(tickets: list[dict], done: dict | None, tracker: Tracker) -> str | None:
    """The repair a new visit is for (``details.related_ticket``): a visit again for what the last one did
    not fix belongs to the same problem as that one; else the repair this conversation was told of, if it
    is one of the customer's, else their newest open one. Found in review: the last ticket told of,
    whatever it was (a complaint filed minutes before), was named while the repair was open."""
    earlier = ((done or {}).get("details") or {}).get("related_ticket")
    if earlier:
        return earlier
    told = tracker.get_slot("last_ticket_id")
    if any(t["ticket_id"] == told and t["kind"] == "fault" for t in tickets):
        return told
    repair = newest(tickets, "fault", OPEN)
    return repair["ticket_id"] if repair is not None else None


async def book_visit(dispatcher: CollectingDispatcher, tracker: Tracker, customer: Customer, related: str | None,
                     text: str, when: str | None, verified: bool) -> list[dict]:
    ticket_id = await open_ticket(tracker, customer, "visit", ticket_summary("visit", said=text[:200]),
                                  verified=verified, details={"related_ticket": related, **({"visit_time": when} if when else {})})
    told_booked(dispatcher, ticket_id, customer, when)
    return [SlotSet("last_ticket_id", ticket_id), SlotSet("awaiting", None)]


def told_booked(dispatcher: CollectingDispatcher, ticket_id: str, customer: Customer, when: str | None) -> None:
    if when:
        dispatcher.utter_message(response="utter_visit_booked_at", ticket_id=ticket_id, address=customer.address,
                                 visit_time=when)
    else:
        dispatcher.utter_message(response="utter_visit_booked", ticket_id=ticket_id, address=customer.address)


def booked_by(booked: dict, tracker: Tracker, text: str) -> bool:
    """Whether the visit booked is this very request's: booked in this conversation with these words. A
    turn run again (its process died after booking it, a WeChat retry) or the words sent twice were noted
    on it as the customer asking to move it (客户要求改约), and the dispatch system was told so."""
    return (booked.get("conversation_id") == tracker.sender_id
            and booked.get("summary") == ticket_summary("visit", said=text[:200]))


def asked_for_the_time_again(tracker: Tracker) -> bool:
    """On the phone after a no to the time read back: the caller's next words name the time."""
    return (tracker.get_slot("awaiting") == VISIT_TIME and just_asked(tracker, ASK_TIME_AGAIN)
            and time_asked(latest_text(tracker)) is not None)
