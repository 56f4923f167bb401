"""Fault triage and self-help: never waits for identification.

Triage picks the best catalogue entry for the fault type, code and symptom
words; when nothing specific is known it asks once for details, then falls
back to the fault's general entry. A customer it already knows whose repair of this fault is
still open hears about that repair instead (actions/repairs.py). A proven customer is not sent again
self-help they said did not help in an earlier contact, on any channel (bot/outcomes/selfhelp_tried.py):
when nothing else fits what they describe, triage says so and goes on to the repair ticket.
"""
from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.backend import catalogue, labels, latest_entity, record, repository, says_any
from actions.chain import continue_with
from actions.csat import ask_csat
from actions.handoff import offer_human
from actions.identity import leave_the_message, message_being_left, verified_customer
from actions.repairs import chase_if_known
from bot.db.repository import DatabaseError
from bot.handoff.rules import load_rules
from bot.media import media_ready
from bot.outcomes.events import customer_key
from bot.outcomes.selfhelp_tried import failed_before as failed_selfhelp
from bot.selfhelp import SelfHelpEntry, public
from bot.settings import get_settings

FAULT_INTENTS = ("fault_tv", "fault_broadband", "fault_wifi", "fault_remote")


def selfhelp_message(entry: SelfHelpEntry) -> dict[str, Any]:
    """The rich message for one entry: steps, the video attachment, the help link.

    The title is the text's first line; the link has the catalogue's own label, not the title again.
    The video goes only once its file is there (a fresh install renders them in the background):
    until then the steps and the entry's page are the answer. The link names the entry
    (``selfhelp_id``) for the agent's view of what was tried (``bot.selfhelp.sent_entry_id``).
    """
    link_label = catalogue().link_label or entry.title
    steps = "\n".join(f"{n}. {step}" for n, step in enumerate(entry.steps, start=1))
    message: dict[str, Any] = {
        "response": "utter_selfhelp_entry",
        "title": entry.title,
        "steps": steps,
        "spoken": entry.spoken,
        "buttons": [{"title": link_label, "url": public(entry.page()), "type": "web_url", "selfhelp_id": entry.id}],
    }
    media_dir = get_settings().media_dir
    if media_ready(media_dir, entry.video_url):
        video = {"title": entry.title, "src": public(entry.video_url), "selfhelp_id": entry.id}
        if media_ready(media_dir, entry.poster_url):
            video["poster"] = public(entry.poster_url)
        message["attachment"] = {"type": "video", "payload": video}
    return message


async def send_entry(
    dispatcher: CollectingDispatcher, tracker: Tracker, entry: SelfHelpEntry
) -> list[dict[str, Any]]:
    """Send an entry, ask whether it worked, and remember it was sent."""
    dispatcher.utter_message(**selfhelp_message(entry))
    dispatcher.utter_message(response="utter_ask_selfhelp_worked")
    sent = list(tracker.get_slot("selfhelp_sent") or [])
    await record(tracker, "selfhelp_sent", selfhelp_id=entry.id, fault_type=entry.fault_type)
    return [
        SlotSet("selfhelp_sent", sent + [entry.id]),
        SlotSet("selfhelp_current", entry.id),
        SlotSet("awaiting", "selfhelp_feedback"),
    ]


async def proven_customer_key(tracker: Tracker) -> str:
    """The outcome key of the customer this turn proves it is ("" if none, or the database cannot say)."""
    try:
        customer = await verified_customer(tracker)
    except DatabaseError:
        return ""
    return customer_key(customer_id=customer.id) if customer is not None else ""


async def failed_before(tracker: Tracker, fault_type: str) -> set[str]:
    """The entries for ``fault_type`` the customer this turn proves it is said did not help, in any
    contact on any channel within the ledger's repeat window (content/ledger.yml). None for a customer
    who only named a number; none when the record cannot be read (triage goes on as before)."""
    try:
        customer = await verified_customer(tracker)
    except DatabaseError:
        return set()
    failed = await failed_selfhelp(repository().engine, customer.id) if customer is not None else set()
    entries = (catalogue().get(entry_id) for entry_id in failed)
    return {entry.id for entry in entries if entry is not None and entry.fault_type == fault_type}


def current_fault_type(tracker: Tracker) -> str | None:
    """The fault the latest message is about. Another fault than the one talked about only when the
    message names its device or service (``fault_named_by`` in content/labels.yml): "红灯一直亮", said of
    the TV's box, was taken for the broadband's red LOS light (found trying the chat)."""
    intent = (tracker.latest_message or {}).get("intent", {}).get("name")
    earlier = tracker.get_slot("fault_type")
    if intent not in FAULT_INTENTS:
        return earlier
    if earlier in FAULT_INTENTS and intent != earlier and not names_fault(tracker, intent):
        return earlier
    return intent


def names_fault(tracker: Tracker, fault_type: str) -> bool:
    """Whether the latest message names ``fault_type``'s device or service (any word of its list; a fault
    without a list counts as named)."""
    words = (labels().get("fault_named_by") or {}).get(fault_type)
    return words is None or says_any(tracker, words)


class ActionTriageFault(Action):
    def name(self) -> str:
        return "action_triage_fault"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        if message_being_left(tracker):
            return await leave_the_message(dispatcher, tracker, domain)
        fault_type = current_fault_type(tracker)
        if fault_type is None:
            dispatcher.utter_message(response="utter_default")
            return []
        text = (tracker.latest_message or {}).get("text") or ""
        symptom = latest_entity(tracker, "symptom") or ""
        # Another fault than the one talked about so far ("宽带也连不上了" after the TV): its own triage, and
        # not the first one's error code, which went onto the second one's repair ticket.
        earlier = tracker.get_slot("fault_type")
        another = earlier is not None and earlier != fault_type
        given = latest_entity(tracker, "fault_code") or (None if another else tracker.get_slot("fault_code"))
        code = given if isinstance(given, str) else None  # not a slot Rasa filled from a typed payload's JSON
        events: list[dict[str, Any]] = [SlotSet("fault_type", fault_type)]
        if code:
            events.append(SlotSet("fault_code", code.upper()))
        elif another or given is not None:
            events.append(SlotSet("fault_code", None))
        asked = tracker.get_slot("triage_asked") and not another
        chased = await chase_if_known(dispatcher, tracker, fault_type)
        if chased is not None:
            return events + chased
        sent = set(tracker.get_slot("selfhelp_sent") or [])
        failed = await failed_before(tracker, fault_type) - sent
        entry = catalogue().best_match(fault_type, f"{text} {symptom}", code, exclude=sent | failed)
        specific = entry is not None and catalogue().score(entry, f"{text} {symptom}", code) > 0
        if tracker.get_slot("awaiting") == "selfhelp_feedback" and not another and not specific:
            # The same fault said again to "did it fix it?" ("完全上不了网"), nothing new in it: a no. Triaged
            # afresh, it asked for details and the self-help's failure was lost (found trying the chat).
            return events + await selfhelp_feedback(dispatcher, tracker, domain, worked=False)
        if failed and not specific:  # nothing they have not tried fits: no video again, a repair
            dispatcher.utter_message(response="utter_selfhelp_tried_before")
            tried = [SlotSet("selfhelp_sent", sorted(sent | failed))]  # the ticket names what was tried
            return await continue_with("action_create_fault_ticket", dispatcher, tracker, domain, events + tried)
        if not specific and not asked:
            dispatcher.utter_message(response=f"utter_ask_fault_detail_{fault_type}")
            return events + [SlotSet("triage_asked", True), SlotSet("awaiting", None)]
        if entry is None:
            return await continue_with("action_create_fault_ticket", dispatcher, tracker, domain, events)
        return events + await send_entry(dispatcher, tracker, entry)


async def selfhelp_feedback(
    dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict, worked: bool
) -> list[dict[str, Any]]:
    """The customer's answer to "did it fix it?"."""
    current = tracker.get_slot("selfhelp_current")
    entry = catalogue().get(current) if current else None
    # Named for the customer the conversation proved it is by now, so the next contact on any channel
    # skips what did not help (a proof given later in the contact names it too: verification_passed).
    await record(tracker, "selfhelp_resolved" if worked else "selfhelp_failed", selfhelp_id=current,
                 fault_type=entry.fault_type if entry else None, customer=await proven_customer_key(tracker))
    if worked:
        dispatcher.utter_message(response="utter_selfhelp_resolved")
        return [SlotSet("awaiting", None)] + await ask_csat(dispatcher, tracker)
    failures = float(tracker.get_slot("selfhelp_failures") or 0) + 1
    events: list[dict[str, Any]] = [SlotSet("selfhelp_failures", failures)]
    if failures >= load_rules().selfhelp_failures_before_offer:
        return await offer_human(dispatcher, tracker, domain, "utter_selfhelp_offer_human", events)
    tried = set(tracker.get_slot("selfhelp_sent") or [])
    follow = catalogue().next_after(current, tried) if current else None
    if follow is not None:
        dispatcher.utter_message(response="utter_selfhelp_next")
        return events + await send_entry(dispatcher, tracker, follow)
    # Self-help is exhausted: move on to a repair ticket.
    return await continue_with("action_create_fault_ticket", dispatcher, tracker, domain, events)
