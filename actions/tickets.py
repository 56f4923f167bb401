"""Requests that become tickets: repairs, visits, service changes, complaints, callbacks.

Every one is written to the ticket ledger and told to the customer by its id.
"""
from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet

from actions.acknowledge import AcknowledgeFirst
from actions.backend import catalogue, channel_of, db, labels, latest_entity, record, repository
from actions.identity import IdentifiedAction, local_phone, request_text
from actions.repairs import chase_repair, tell_unproven
from bot.db.repository import Customer
from bot.handoff.masking import mask_phone
from bot.handoff.rules import load_rules
from bot.labels import ticket_summary


async def open_ticket(tracker: Tracker, customer: Customer | None, kind: str, summary: str, **options: Any) -> str:
    """A ticket on the customer's account; without one (``None``), on the callback number in ``details``."""
    details = {
        "fault_type": tracker.get_slot("fault_type"),
        "fault_code": tracker.get_slot("fault_code"),
        "selfhelp_sent": tracker.get_slot("selfhelp_sent") or [],
        **options.pop("details", {}),
    }
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


def fault_summary(tracker: Tracker) -> str:
    """The repair ticket's line: the fault, its code and the self-help already tried, by name."""
    words = load_rules().summary_words
    none = words.get("none", "")
    fault = tracker.get_slot("fault_type")
    titles = [entry.title for entry in map(catalogue().get, tracker.get_slot("selfhelp_sent") or []) if entry]
    return ticket_summary("fault", fault=words.get(f"fault_{fault}", fault or none),
                          code=tracker.get_slot("fault_code") or none,
                          selfhelp=words.get("list_separator", ", ").join(titles) or none)


class ActionCreateFaultTicket(AcknowledgeFirst, IdentifiedAction):
    request = "fault_ticket"
    acknowledgement = "utter_ack_repair"

    def name(self) -> str:
        return "action_create_fault_ticket"

    async def serve(self, dispatcher, tracker, customer, verified):
        chased = await chase_repair(dispatcher, tracker, customer, tracker.get_slot("fault_type"), verified)
        if chased is not None:
            return chased
        priority = 1 if customer.vip_tier >= 2 else 0
        ticket_id = await open_ticket(tracker, customer, "fault", fault_summary(tracker), priority=priority)
        if not verified:
            return await tell_unproven(dispatcher, tracker, customer, "repair_registered", ticket_id)
        dispatcher.utter_message(response="utter_fault_ticket_created", ticket_id=ticket_id)
        return [SlotSet("last_ticket_id", ticket_id), SlotSet("awaiting", None)]


class ActionBookVisit(AcknowledgeFirst, IdentifiedAction):
    request = "book_visit"
    acknowledgement = "utter_ack_visit"

    def name(self) -> str:
        return "action_book_visit"

    async def serve(self, dispatcher, tracker, customer, verified):
        text = request_text(tracker)
        tickets = await db(repository().tickets_for, customer.id, open_only=True)
        booked = next((t for t in tickets if t["kind"] == "visit"), None)
        if booked is not None:  # "改到周六下午": the visit booked already changes, no second one
            await db(repository().chase_ticket, booked["ticket_id"],
                     ticket_summary("visit_change", said=text[:200],
                                    channel=load_rules().channel_names.get(channel_of(tracker), channel_of(tracker))),
                     most_urgent=0)
            await record(tracker, "ticket_chased", ticket_id=booked["ticket_id"], kind="visit")
            dispatcher.utter_message(response="utter_visit_change_noted", ticket_id=booked["ticket_id"],
                                     request=text[:60])
            return [SlotSet("last_ticket_id", booked["ticket_id"])]
        related = tracker.get_slot("last_ticket_id")
        ticket_id = await open_ticket(
            tracker, customer, "visit", ticket_summary("visit", said=text[:200]), details={"related_ticket": related}
        )
        dispatcher.utter_message(response="utter_visit_booked", ticket_id=ticket_id, address=customer.address)
        return [SlotSet("last_ticket_id", ticket_id)]


class ActionManageService(IdentifiedAction):
    request = "manage_service"

    def name(self) -> str:
        return "action_manage_service"

    async def serve(self, dispatcher, tracker, customer, verified):
        change = latest_entity(tracker, "service_action") or tracker.get_slot("service_action")
        names = labels()["service_action"]
        if change not in names:
            dispatcher.utter_message(response="utter_ask_service_action")
            return []
        said = request_text(tracker)
        said = "" if said.startswith("/") else said  # a button: its choice is the whole request
        ticket_id = await open_ticket(tracker, customer, "service_change",
                                      ticket_summary("service_change", service=names[change], said=said[:200]),
                                      details={"service_action": change, "customer_said": said[:500]})
        # What the customer said goes back with the ticket: "退掉那个4K包" is not "close my account".
        dispatcher.utter_message(
            response="utter_service_change_recorded_as_said" if said else "utter_service_change_recorded",
            ticket_id=ticket_id, service_action_label=names[change], request=said[:60])
        return [SlotSet("last_ticket_id", ticket_id), SlotSet("service_action", None)]


class ActionQueryTicket(AcknowledgeFirst, IdentifiedAction):
    """Ticket progress, only for the identified customer's own tickets."""

    request = "query_ticket"
    acknowledgement = "utter_ack_ticket"  # often a repair that is late: not a bare "your number?"

    def name(self) -> str:
        return "action_query_ticket"

    async def serve(self, dispatcher, tracker, customer, verified):
        words = labels()
        wanted = latest_entity(tracker, "ticket_id") or tracker.get_slot("ticket_id")
        if wanted:
            ticket = await db(repository().get_ticket, wanted)
            if ticket is None or not is_theirs(ticket, customer, verified, tracker.sender_id):
                dispatcher.utter_message(response="utter_ticket_not_found", ticket_id=wanted.upper())
                return [SlotSet("ticket_id", None)]
            found = [ticket]
        else:
            found = (await db(repository().tickets_for, customer.id, open_only=True))[:3]
        if not found:
            dispatcher.utter_message(response="utter_no_open_tickets")
        for ticket in found:
            dispatcher.utter_message(
                response="utter_ticket_status",
                ticket_id=ticket["ticket_id"],
                kind_label=words["ticket_kind"].get(ticket["kind"], ticket["kind"]),
                status_label=words["ticket_status"].get(ticket["status"], ticket["status"]),
                summary="",
            )
        await record(tracker, "answer_given", topic="ticket_status")  # "none open" is an answer too
        return [SlotSet("ticket_id", None)]


def is_theirs(ticket: dict, customer: Customer, verified: bool, conversation_id: str) -> bool:
    """Whether the customer may follow ``ticket``: it is on their account, or (proven customers only)
    it is on nobody's and was opened in this very conversation or to their own number, as an agent's
    转工单跟进 for a customer who had not said who they were (found by a tester: "没有查到工单")."""
    if ticket["customer_id"] is not None:
        return ticket["customer_id"] == customer.id
    number = local_phone((ticket.get("details") or {}).get("callback_phone"))
    return verified and (ticket["conversation_id"] == conversation_id
                         or (number is not None and number == local_phone(customer.phone)))


class ActionComplaint(AcknowledgeFirst, IdentifiedAction):
    """A complaint is always written down and flagged for a person."""

    request = "complaint"
    acknowledgement = "utter_ack_complaint"
    files_for_any_number = True

    def name(self) -> str:
        return "action_complaint"

    async def serve(self, dispatcher, tracker, customer, verified):
        return await self.file(dispatcher, tracker, customer, {})

    async def serve_number(self, dispatcher, tracker, phone):
        return await self.file(dispatcher, tracker, None, {"callback_phone": phone})

    async def file(self, dispatcher, tracker, customer: Customer | None, details: dict):
        text = request_text(tracker)
        ticket_id = await open_ticket(tracker, customer, "complaint", ticket_summary("complaint", said=text[:500]),
                                      priority=2, needs_human=True, details=details)
        dispatcher.utter_message(response="utter_complaint_recorded", ticket_id=ticket_id)
        return [SlotSet("last_ticket_id", ticket_id), SlotSet("awaiting", "offer_human")]


class ActionLeaveMessage(AcknowledgeFirst, IdentifiedAction):
    """A callback request: a ticket that a person works, to the customer's phone."""

    request = "leave_message"
    acknowledgement = "utter_ack_callback"
    files_for_any_number = True

    def name(self) -> str:
        return "action_leave_message"

    async def serve(self, dispatcher, tracker, customer, verified):
        return await self.file(dispatcher, tracker, customer, customer.phone, {})

    async def serve_number(self, dispatcher, tracker, phone):
        return await self.file(dispatcher, tracker, None, phone, {"callback_phone": phone})

    async def file(self, dispatcher, tracker, customer: Customer | None, phone: str, details: dict):
        text = request_text(tracker)
        ticket_id = await open_ticket(tracker, customer, "callback", ticket_summary("callback", said=text[:200]),
                                      priority=1, needs_human=True, details=details)
        dispatcher.utter_message(response="utter_message_recorded", ticket_id=ticket_id, phone_masked=mask_phone(phone))
        return [SlotSet("last_ticket_id", ticket_id)]
