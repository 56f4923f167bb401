"""Identify the customer only when a request needs it.

A gated action first tries what we already know (the slot, numbers in the
message, the channel's phone number); only if that fails does it ask, and it
remembers itself in ``pending_request`` so it resumes once the customer answers.
"""
from __future__ import annotations

import re
from abc import ABC, abstractmethod
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.backend import db, latest_entity, repository
from actions.chain import continue_with
from bot.db.repository import Customer, DatabaseError

PHONE = re.compile(r"^1[3-9]\d{9}$")
DIGITS = re.compile(r"\d{6,}")


def channel_phone(tracker: Tracker) -> str | None:
    """The phone number the channel vouches for (IVR caller id, or metadata)."""
    metadata = tracker.get_slot("session_started_metadata") or {}
    latest = (tracker.latest_message or {}).get("metadata") or {}
    for candidate in (latest.get("phone"), metadata.get("phone"), tracker.sender_id):
        digits = re.sub(r"^\+?86", "", str(candidate or ""))
        if PHONE.match(digits):
            return digits
    return None


async def resolve_customer(tracker: Tracker) -> Customer | None:
    """Find the customer from what we know, without asking. Raises DatabaseError."""
    repo = repository()
    known = tracker.get_slot("customer_id")
    if known:
        customer = await db(repo.get_customer, int(known))
        if customer:
            return customer
    phone = latest_entity(tracker, "phone_number") or channel_phone(tracker)
    account = latest_entity(tracker, "account_number")
    if account:
        customer = await db(repo.find_customer, account_number=account)
        if customer:
            return customer
    if phone:
        return await db(repo.find_customer, phone=phone)
    return None


def request_text(tracker: Tracker) -> str:
    """What the customer asked for, skipping the turns where they only gave an id."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            intent = (event.get("parse_data") or {}).get("intent", {}).get("name")
            if intent != "inform":
                return event.get("text") or ""
    return ""


def identified(customer: Customer) -> list[dict[str, Any]]:
    return [SlotSet("customer_id", str(customer.id)), SlotSet("customer_name", customer.name)]


def ask_identity(dispatcher: CollectingDispatcher, action_name: str) -> list[dict[str, Any]]:
    dispatcher.utter_message(response="utter_ask_identity")
    return [SlotSet("pending_request", action_name), SlotSet("awaiting", "identity")]


def db_error(dispatcher: CollectingDispatcher) -> list[dict[str, Any]]:
    """Apologise and offer a human without promising a ticket we could not write."""
    dispatcher.utter_message(response="utter_db_error")
    return [SlotSet("awaiting", "offer_human")]


class ActionIdentifyCustomer(Action):
    """Handle an `inform` turn: a phone/account number, a ticket id or a fault code."""

    def name(self) -> str:
        return "action_identify_customer"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        pending = tracker.get_slot("pending_request")
        phone = latest_entity(tracker, "phone_number")
        account = latest_entity(tracker, "account_number")
        if latest_entity(tracker, "fault_code") and tracker.get_slot("fault_type") and not (phone or account):
            return await continue_with("action_triage_fault", dispatcher, tracker, domain)
        if latest_entity(tracker, "ticket_id") and not (phone or account):
            return await continue_with("action_query_ticket", dispatcher, tracker, domain)
        if not (phone or account):
            text = (tracker.latest_message or {}).get("text") or ""
            if DIGITS.search(text):
                dispatcher.utter_message(response="utter_identity_invalid")
                return []
            dispatcher.utter_message(response="utter_ask_identity" if pending else "utter_default")
            return []
        try:
            customer = await resolve_customer(tracker)
        except DatabaseError:
            return db_error(dispatcher)
        if customer is None:
            dispatcher.utter_message(response="utter_customer_not_found")
            return []
        events = identified(customer) + [SlotSet("awaiting", None)]
        if pending:
            events.append(SlotSet("pending_request", None))
            return await continue_with(pending, dispatcher, tracker, domain, events)
        dispatcher.utter_message(response="utter_identified", customer_name=customer.name)
        dispatcher.utter_message(response="utter_anything_else")
        return events


class IdentifiedAction(Action, ABC):
    """Base for actions that need to know the customer: resolves or asks first."""

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        try:
            customer = await resolve_customer(tracker)
            if customer is None:
                return ask_identity(dispatcher, self.name())
            return identified(customer) + await self.serve(dispatcher, tracker, customer)
        except DatabaseError:
            return db_error(dispatcher)

    @abstractmethod
    async def serve(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, customer: Customer
    ) -> list[dict[str, Any]]:
        """Answer the request for a known customer."""
