"""What the flow engine may use besides the flow: each behind a small seam, so tests and other
deployments swap one piece (the bot, the queue, the notifier, the voicemail sink) at a time."""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Awaitable, Callable

from sqlalchemy.exc import SQLAlchemyError

from bot.db.repository import DatabaseError, Repository
from bot.ivr.call_state import CallStore
from bot.ivr.caller_clips import CallerClips
from bot.ivr.bot_turns import BotGateway
from bot.ivr.config import HotlineConfigSource
from bot.handoff.rules import load_rules
from bot.ivr.handoff import HandoffGateway
from bot.ivr.registry import FlowRegistry
from bot.labels import ticket_summary
from bot.notify import Notifier
from bot.outcomes import record
from bot.outcomes.events import customer_key
from bot.outcomes.selfhelp_tried import failed_before
from bot.phone import local_phone  # also imported from here by the phone-side modules

logger = logging.getLogger(__name__)

# (pcm, sample_rate, caller, call_id) -> stored; runs after the caller confirmed the message
VoicemailSink = Callable[[bytes, int, str, str], Awaitable[None]]


@dataclass(frozen=True)
class Customer:
    id: int
    vip_tier: int


class CallRecords:
    """The customer database as calls need it; every call runs off the event loop."""

    def __init__(self, repository: Repository) -> None:
        self.repository = repository

    async def find_customer(self, caller: str) -> Customer | None:
        phone = local_phone(caller)
        if phone is None:
            return None
        try:
            found = await asyncio.to_thread(self.repository.find_customer, phone=phone)
        except DatabaseError as exc:
            logger.warning("ivr.customer.lookup_failed error=%s", exc)
            return None
        return Customer(found.id, int(getattr(found, "vip_tier", 0) or 0)) if found else None

    async def placed_call(self, token: str, caller: str) -> bool:
        """Whether ``token`` is the attempt token of a contact Kefu is calling now at ``caller``'s number.
        Anyone can open the media stream and send any ``kefuContact``: only the token of the call Kefu
        placed, to that number, proves the caller ID (a made-up one gave the desk the number's customer)."""
        from bot.contacts.schedule import ACTIVE, Schedule

        if not token:
            return False
        try:
            contact = await asyncio.to_thread(Schedule(self.repository).by_token, token)
        except SQLAlchemyError as exc:
            logger.warning("ivr.contact.lookup_failed error=%s", type(exc).__name__)
            return False
        number = local_phone(caller) or caller.strip()
        return (contact is not None and contact["status"] in ACTIVE
                and (local_phone(contact["phone"]) or contact["phone"].strip()) == number)

    async def failed_selfhelp(self, customer_id: int) -> set[str]:
        """The self-help entries this proven customer said did not help (``failed_before``)."""
        return await failed_before(self.repository.engine, customer_id)

    async def event(self, conversation_id: str, kind: str, data: dict) -> None:
        await record(conversation_id, kind, channel="ivr", database_url=self.repository.url, **data)

    async def contact_started(self, conversation_id: str, caller: str, customer_id: int | None,
                              outbound: bool = False) -> None:
        """``outbound``: a call Kefu placed (bot/contacts/), not a customer's contact."""
        customer = customer_key(customer_id=customer_id, phone=local_phone(caller))
        extra = {"direction": "outbound"} if outbound else {}
        await record(conversation_id, "contact_started", channel="ivr", customer=customer,
                     database_url=self.repository.url, **extra)

    async def callback_ticket(self, *, conversation_id: str, customer_id: int | None, caller: str,
                              skill: str, priority: int, callback_at=None, callback_by=None) -> str | None:
        """A callback ticket; ``callback_at`` (naive UTC) is when to offer it to the agents, None: at once;
        ``callback_by`` (aware) the time the caller was promised, shown on the desk as the chat's is."""
        details = {"callback_phone": caller, "skill": skill, "source": "ivr"}  # as every callback ticket has it
        if callback_by is not None:
            details["callback_by"] = callback_by.isoformat(timespec="minutes")
        if callback_at is not None:
            details["callback_at"] = callback_at.isoformat(timespec="minutes")
        try:
            ticket_id = await asyncio.to_thread(
                self.repository.create_ticket, kind="callback", customer_id=customer_id,
                summary=ticket_summary("phone_callback", skill=load_rules().skills.get(skill, skill)),
                details=details, priority=priority,
                needs_human=True, channel="ivr", conversation_id=conversation_id)
        except DatabaseError as exc:
            logger.warning("ivr.callback.failed error=%s", exc)
            return None
        # The time promised, as the ticket keeps it: analytics and the desk see the promise, not only a booking.
        await self.event(conversation_id, "callback_booked", {"ticket_id": ticket_id, "skill": skill,
                                                              **({"callback_by": details["callback_by"]}
                                                                 if "callback_by" in details else {})})
        return ticket_id


    async def contact_answer(self, conversation_id: str, token: str, answer: str, value: str) -> None:
        """An outbound contact's answer (``answer`` node): to the ledger and the outcome record."""
        if not token:  # the flow tried from an inbound call (an editor testing it): only the event
            await self.event(conversation_id, "contact_answered", {"answer": answer, "contact_id": None})
            return
        from bot.contacts.answers import apply_answer

        try:
            await apply_answer(self.repository, token, answer, value, conversation_id=conversation_id)
        except DatabaseError as exc:
            logger.warning("ivr.contact_answer.failed error=%s", exc)


@dataclass
class CallServices:
    registry: FlowRegistry
    store: CallStore
    hotline: HotlineConfigSource
    records: CallRecords
    handoff: HandoffGateway
    notifier: Notifier
    bot: BotGateway | None = None
    voicemail: VoicemailSink | None = None
    clips: CallerClips | None = None  # a queued caller's turns with no words, for the agent to play
    clock: Callable | None = None  # -> aware datetime; None = now
    sms_budget: object | None = None  # bot.ivr.sms_budget.TextBudget: texts per number and call; None = unlimited
