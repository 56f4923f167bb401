"""Writing a ticket for a conversation and reading a customer's tickets: shared by every request that
becomes one (actions/tickets.py, actions/visits.py, actions/new_install.py)."""
from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker

from actions.backend import channel_of, db, labels, last_said, latest_text, record, repository
from actions.identity import named_by_account, typed_number
from actions.kept_requests import FILING
from bot.db.repository import Customer, DatabaseError
from bot.handoff.masking import mask_phone
from bot.handoff.tickets import CUSTOMER_PROVEN
from bot.nlu.no_content import CJK_OR_DIGIT
from bot.ticket_notes import history_note


async def open_ticket(tracker: Tracker, customer: Customer | None, kind: str, summary: str, *, verified: bool,
                      **options: Any) -> str:
    """A ticket on the customer's account; without one (``None``), on the callback number in ``details``.
    ``verified``: whether the conversation proved it is that customer, or only named them (a number typed
    in a chat): kept as ``customer_proven`` (``bot.handoff.tickets.customer_proven``), so a person who
    later works the ticket (an offered callback) is not shown the account as the customer's own."""
    details = {
        "fault_type": tracker.get_slot("fault_type"),
        "fault_code": tracker.get_slot("fault_code"),
        "selfhelp_sent": tracker.get_slot("selfhelp_sent") or [],
        CUSTOMER_PROVEN: customer is not None and verified,
        **options.pop("details", {}),
    }
    if FILING.get() is not None:  # filed late, after a database outage: the id makes it filed once
        details["kept_request"] = FILING.get()
    ticket_id = await db(
        repository().create_ticket,
        kind=kind,
        customer_id=customer.id if customer is not None else None,
        summary=summary,
        details=details,
        channel=channel_of(tracker),
        conversation_id=tracker.sender_id,
        **options,
    )
    await record(tracker, "ticket_created", ticket_id=ticket_id, kind=kind)
    return ticket_id


def newest(tickets: list[dict], kind: str, statuses: tuple[str, ...] = (), unless: tuple[str, ...] = ()) -> dict | None:
    """The newest of a customer's tickets (``tickets_for`` is newest first) of ``kind``, in ``statuses``
    (any when empty) and not in ``unless``."""
    return next((t for t in tickets if t["kind"] == kind and (not statuses or t["status"] in statuses)
                 and t["status"] not in unless), None)


def status_label(ticket: dict) -> str:
    return labels()["ticket_status"].get(ticket["status"], ticket["status"])


def progress_note(ticket: dict, words: dict) -> str:
    """What the progress line adds: the visit time promised (``details.visit_time``), or for a visit with
    none yet that the technician rings to agree one, or for one the customer called off that it is being
    called off (``ticket_progress`` in content/labels.yml)."""
    when = (ticket.get("details") or {}).get("visit_time")
    progress = words.get("ticket_progress") or {}
    if (ticket.get("details") or {}).get("visit_cancel_requested") and progress.get("visit_cancel_requested"):
        return progress["visit_cancel_requested"]  # not the time it was booked for (actions/visits.py)
    if when and progress.get("visit_time"):
        return progress["visit_time"].format(when=when)
    if ticket.get("kind") == "visit" and not when:
        return progress.get("visit_no_time") or ""
    return ""


async def filed_already(tracker: Tracker, customer: Customer, change: str, said: str) -> str | None:
    """The open service change this very request filed in this conversation (a turn run again, the same
    words sent twice), told again instead of filed twice (found in review: two tickets for one 报停)."""
    tickets = await db(repository().tickets_for, customer.id, open_only=True)
    return next((t["ticket_id"] for t in tickets if t["kind"] == "service_change"
                 and t["conversation_id"] == tracker.sender_id
                 and (t.get("details") or {}).get("service_action") == change
                 and (t.get("details") or {}).get("customer_said") == said), None)


def recorded(dispatcher, tracker: Tracker, ticket_id: str, phone: str, verified: bool,
             response: str = "utter_message_recorded", registered: bool = True, **values: str) -> None:
    """"Callback recorded": to the number called back, shown masked, unless the customer was named by
    an account number and not proven (the account's phone is not told to whoever holds its number:
    ``response`` + ``_registered_phone`` instead). ``registered`` False: ``phone`` is not the account's but the
    number the customer gave to call back, and is shown (found in review: someone named by an account number before who
    gave another number for a message heard it would ring the account's phone)."""
    if registered and not verified and named_by_account(tracker, typed_number(tracker)):
        dispatcher.utter_message(response=f"{response}_registered_phone", ticket_id=ticket_id, **values)
    else:
        dispatcher.utter_message(response=response, ticket_id=ticket_id, phone_masked=mask_phone(phone), **values)


class FiledToCallBack:
    """Mixin for an identified action filed for a person to call back (``files_for_any_number``): on the
    customer's phone, or on the mobile number given that is no customer's. The action defines ``file``."""

    files_for_any_number = True

    async def serve(self, dispatcher, tracker, customer, verified):
        return await self.file(dispatcher, tracker, customer, customer.phone, {}, verified)

    async def serve_number(self, dispatcher, tracker, phone):
        return await self.file(dispatcher, tracker, None, phone, {"callback_phone": phone}, False)


# The replies that tell the customer a ticket was just filed in this conversation.
FILED_REPLIES = frozenset({
    "utter_fault_ticket_created", "utter_fault_report_taken", "utter_fault_report_taken_registered_phone",
    "utter_service_change_recorded", "utter_service_change_recorded_as_said", "utter_complaint_recorded",
    "utter_complaint_recorded_after_ack", "utter_complaint_detail_added", "utter_message_recorded",
    "utter_message_left", "utter_new_install_recorded", "utter_visit_booked", "utter_visit_booked_at",
})


async def note_said_more(dispatcher, tracker: Tracker) -> bool:
    """Words the NLU could not place, said right after a ticket was filed in this conversation, are more
    of that request ("下个月再开" after a suspension): noted on the ticket for whoever works it, and the
    customer told so, without its id (someone who only named a customer was not told it). Found trying the
    chat: they got "抱歉，我没太明白" and the words were lost. False when there is no such ticket."""
    text = latest_text(tracker)
    ticket_id = tracker.get_slot("last_ticket_id")
    if last_said(tracker) not in FILED_REPLIES or not ticket_id or not CJK_OR_DIGIT.search(text):
        return False
    try:
        ticket = await db(repository().get_ticket, ticket_id)
        if ticket is None or ticket["conversation_id"] != tracker.sender_id:
            return False
        await db(repository().note_ticket, ticket_id, history_note("said_more", channel=channel_of(tracker),
                                                                   said=text[:500]))
    except DatabaseError:
        return False  # the words are not understood either way: the usual fallback
    dispatcher.utter_message(response="utter_noted_on_ticket")
    return True
