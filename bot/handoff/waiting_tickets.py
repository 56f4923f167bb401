"""Work items the waiting room creates: a callback or a left message, with the number to call,
the time promised and what the customer said, so the agent needs nothing else."""
from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.handoff.queue import HandoffRequest
from bot.handoff.tickets import repository

logger = logging.getLogger(__name__)


def customers_zone() -> ZoneInfo:
    """The customers' local time (``timezone`` in content/contacts.yml), not the server's: a
    server on UTC promised a call "before 01:44" at a quarter to eight in the morning in Beijing."""
    from bot.contacts.rules import current_rules
    from bot.settings import get_settings

    return current_rules(get_settings().content_dir / "contacts.yml").timezone


def callback_by(now: float, within_hours: float, zone: ZoneInfo | None = None) -> datetime:
    return datetime.fromtimestamp(now, zone or customers_zone()) + timedelta(hours=within_hours)


def promised_time(due: datetime, now: float) -> str:
    """The promised time as the customer reads it, in their zone: ``HH:MM`` today, else ``MM-DD HH:MM``."""
    same_day = due.date() == datetime.fromtimestamp(now, due.tzinfo).date()
    return due.strftime("%H:%M" if same_day else "%m-%d %H:%M")


def customer_said(request: HandoffRequest, limit: int = 5) -> list[str]:
    """The customer's own latest words from the context packet (payload buttons left out)."""
    turns = (request.context or {}).get("transcript") or []
    said = [str(t.get("text") or "") for t in turns if t.get("who") == "customer"]
    return [s for s in said if s and not s.startswith(("/", "#"))][-limit:]


async def waiting_room_ticket(request: HandoffRequest, *, kind: str, phone: str, message: str = "",
                              within_hours: float, now: float | None = None,
                              callback_at: datetime | None = None) -> tuple[str, datetime]:
    """A ``callback`` or ``voice_message`` ticket for a person; returns its id and the promised time.

    A callback also enters the contact schedule with the context packet: offered to the agents at
    ``callback_at`` (naive UTC, when the customer chose a time) or at once, keeping its place in line.
    """
    now = time.time() if now is None else now
    due = callback_by(now, within_hours)
    said = customer_said(request)
    try:
        customer_id = int(request.customer_id) if request.customer_id else None
    except ValueError:
        customer_id = None
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
