"""Work items with a number to call: the waiting room's callbacks and left messages, and an agent's
预约回电, each with the number, the time promised and what the customer said, so the agent who
calls needs nothing else."""
from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from bot.contacts.planner import WORK_ITEM_ONLY
from bot.handoff import keys
from bot.handoff.queue import HandoffRequest
from bot.handoff.service_hours import next_opening
from bot.handoff.tickets import CUSTOMER_PROVEN, customer_id_of, filed, repository
from bot.labels import ticket_summary

logger = logging.getLogger(__name__)


def customers_zone() -> ZoneInfo:
    """The customers' local time (``timezone`` in content/contacts.yml), not the server's: a
    server on UTC promised a call "before 01:44" at a quarter to eight in the morning in Beijing."""
    from bot.contacts.rules import current_rules
    from bot.settings import get_settings

    return current_rules(get_settings().content_dir / "contacts.yml").timezone


def callback_by(now: float, within_hours: float, zone: ZoneInfo | None = None, hours=None) -> datetime:
    """By when a callback is promised: ``within_hours`` from now, or from the hotline's next opening when
    it is closed (found by a tester: "客服会在06:27前回电" at 04:27, with agents in from 08:00). ``hours``:
    the hotline's ``BusinessHours`` the caller already has (the phone's flow), else read from content/ivr.yml."""
    start = datetime.fromtimestamp(now, timezone.utc)
    opening = next_opening(start, hours)
    if opening is not None:
        start = opening.replace(tzinfo=timezone.utc)
    return start.astimezone(zone or customers_zone()) + timedelta(hours=within_hours)


def promised_time(due: datetime, now: float) -> str:
    """The promised time as the customer reads it, in their zone: ``HH:MM`` today, else ``MM-DD HH:MM``."""
    same_day = due.date() == datetime.fromtimestamp(now, due.tzinfo).date()
    return due.strftime("%H:%M" if same_day else "%m-%d %H:%M")


def customer_said(request: HandoffRequest, limit: int = 5) -> list[str]:
    """The customer's own latest words from the context packet (payload buttons left out)."""
    turns = (request.context or {}).get("transcript") or []
    said = [str(t.get("text") or "") for t in turns if t.get("who") == "customer"]
    return [s for s in said if s and not s.startswith(("/", "#"))][-limit:]


async def known_phone(redis, conversation_id: str, request: HandoffRequest) -> str | None:
    """Where a callback reaches the customer: a proven customer's number, a caller's own line (as
    the hold keys use it: a caller cannot type a number into a waiting room), or what they gave."""
    context = request.context or {}
    customer = context.get("customer") or {}
    if request.customer_id and customer.get("phone"):
        return str(customer["phone"])
    if request.channel == "ivr" and context.get("phone"):
        return str(context["phone"])
    given = await redis.hget(keys.conversation(conversation_id), "callback_phone")
    return given.decode() if isinstance(given, bytes) else given


async def agent_callback_ticket(request: HandoffRequest, *, phone: str, note: str, agent_id: str,
                                within_hours: float, now: float, filed_by: str = "") -> tuple[str, datetime]:
    """An agent's 预约回电: a work item on the desk (the number, the time promised), not a place in
    the queue again (found by a tester: the customer was back in line at once and greeted again).
    ``filed_by``: the close it is noted with (bot.handoff.close_filing), so that close's retry finds it."""
    due = callback_by(now, within_hours)
    ticket_id = await asyncio.to_thread(
        repository().create_ticket, kind="callback", customer_id=await customer_to_call(request, phone),
        summary=note[:500] or ticket_summary("agent_callback"),
        details={"callback_phone": phone, "callback_by": due.isoformat(timespec="minutes"),
                 CUSTOMER_PROVEN: customer_id_of(request) is not None,
                 "customer_said": customer_said(request), "skill": request.skill, "agent_id": agent_id,
                 "disposition": "callback", "via": "agent", WORK_ITEM_ONLY: True, **filed(filed_by)},
        priority=request.priority, needs_human=True, channel=request.channel,
        conversation_id=request.conversation_id)
    await asyncio.to_thread(repository().set_ticket_owner, ticket_id, agent_id)  # who took it on, in the ledger
    return ticket_id, due


async def customer_to_call(request: HandoffRequest, phone: str) -> int | None:
    """Whose callback it is: the proven customer, else the customer whose registered number the agent is
    to ring (found by a tester: an agent's 预约回电 for a customer's own number was on nobody's account,
    so it showed in none of their ticket lists, and the bot booked a second one). Listing a ticket still
    needs proof; this only files it where the owner of that number will find it, and the ticket says the
    customer was only named (``customer_proven``), so nobody shows that account as the caller's own."""
    known = customer_id_of(request)
    if known is not None or not phone:
        return known
    customer = await asyncio.to_thread(repository().find_customer, phone=phone)
    return customer.id if customer is not None else None


async def waiting_room_ticket(request: HandoffRequest, *, kind: str, phone: str, message: str = "",
                              within_hours: float, now: float | None = None,
                              callback_at: datetime | None = None, hours=None) -> tuple[str, datetime]:
    """A ``callback`` or ``voice_message`` ticket for a person; returns its id and the promised time.

    A callback also enters the contact schedule with the context packet: offered to the agents at
    ``callback_at`` (naive UTC, when the customer chose a time) or at once, keeping its place in line.
    ``hours``: the hotline's ``BusinessHours`` the caller already has (a phone's hold key), as ``callback_by``.
    """
    now = time.time() if now is None else now
    due = callback_by(now, within_hours, hours=hours)
    said = customer_said(request)
    customer_id = customer_id_of(request)
    summary = message or "; ".join(said) or kind
    ticket_id = await asyncio.to_thread(
        repository().create_ticket, kind=kind, customer_id=customer_id, summary=summary[:500],
        details={"callback_phone": phone, "callback_by": due.isoformat(timespec="minutes"),
                 "left_message": message, "customer_said": said, "skill": request.skill,
                 "via": "waiting_room"},
        priority=request.priority, needs_human=True, channel=request.channel,
        conversation_id=request.conversation_id)
    if kind == "callback":
        await schedule_with_packet(request, ticket_id, phone, customer_id, callback_at)
    return ticket_id, due


async def schedule_with_packet(request: HandoffRequest, ticket_id: str, phone: str, customer_id: int | None,
                               callback_at: datetime | None) -> None:
    from sqlalchemy.exc import SQLAlchemyError

    from bot.contacts.callbacks import schedule_callback

    try:
        await asyncio.to_thread(
            schedule_callback, repository(), ticket_id=ticket_id, phone=phone, customer_id=customer_id,
            conversation_id=request.conversation_id, channel=request.channel, skill=request.skill,
            priority=request.priority, context=request.context or {}, at=callback_at)
    except SQLAlchemyError as exc:  # the contact worker still schedules it from the ticket, without the packet
        logger.warning("handoff.callback.schedule_failed ticket=%s error=%s", ticket_id, type(exc).__name__)
