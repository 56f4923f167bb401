"""``request_handoff``: the one way any part of Kefu asks for a person.

The chat actions, the IVR flow engine's ``transfer`` node (and the assistant during a call) and
the voice-message pipeline all call it. It builds the :class:`~bot.handoff.packet.HandoffPacket`
and either queues the live conversation for an agent (``queue``) or, when nobody is on the
line any more (a voice message), files a work item whose ticket carries the same packet.
Asking again while a conversation waits or is being served keeps its place: it is never
queued twice.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from bot.handoff import masking
from bot.handoff.packet import FlowCollected, HandoffPacket, build_packet
from bot.handoff.queue import HandoffQueue, HandoffRequest, QueuePosition
from bot.outcomes import record

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkItem:
    """A handoff nobody waits on the line for: a ticket a person works from the desk's list."""

    kind: str
    summary: str
    details: dict
    repository: Any  # bot.db.repository.Repository
    # Writes its ticket, given Repository.create_ticket's arguments, and returns its id; None: create_ticket. For a
    # caller whose own record changes in the same transaction (a voice message handed on after its self-help reply
    # was held back, whose self-help ticket becomes the work item: voice/voicemail/withheld_reply.py).
    write: Callable[..., str] | None = None


@dataclass(frozen=True)
class HandoffResult:
    packet: HandoffPacket
    position: QueuePosition | None = None
    ticket_id: str | None = None


async def request_handoff(*, conversation_id: str, channel: str, skill: str, priority: int, reason: str,
                          customer: dict | None = None, phone: str | None = None,
                          claimed_phone: str | None = None, events: Iterable[dict] = (),
                          slots: Mapping[str, Any] | None = None, open_tickets: Iterable[dict] = (),
                          titles: Mapping[str, str] | None = None, collected: FlowCollected | None = None,
                          queue: HandoffQueue | None = None, work_item: WorkItem | None = None,
                          faults: Mapping[str, str] | None = None) -> HandoffResult:
    """Build the packet and hand it to a person: the live queue, or a work item.

    Queue errors (``redis.RedisError``, ``OSError``) reach the caller, who knows what to tell
    the customer; exactly one of ``queue`` and ``work_item`` is given.
    """
    if (queue is None) == (work_item is None):
        raise ValueError("request_handoff needs exactly one of queue and work_item")
    packet = build_packet(conversation_id=conversation_id, channel=channel, skill=skill, priority=priority,
                          reason=reason, enqueued_at=time.time(), events=events, slots=slots, customer=customer,
                          phone=phone, claimed_phone=claimed_phone, open_tickets=open_tickets, titles=titles,
                          collected=collected, faults=faults)
    customer_id = str(customer["id"]) if customer and customer.get("id") is not None else None
    if work_item is not None:
        ticket_id = await asyncio.to_thread(
            work_item.write or work_item.repository.create_ticket, kind=work_item.kind,
            customer_id=int(customer_id) if customer_id else None, summary=work_item.summary,
            details={**work_item.details, "handoff": packet}, priority=packet["priority"], needs_human=True,
            channel=channel, conversation_id=conversation_id)
        await record(conversation_id, "handoff_work_item", channel=channel, database_url=work_item.repository.url,
                     skill=skill, priority=packet["priority"], reason=reason, ticket_id=ticket_id)
        logger.info("handoff.work_item %s ticket=%s", masking.for_log(packet), ticket_id)
        return HandoffResult(packet, ticket_id=ticket_id)
    request = HandoffRequest(conversation_id=conversation_id, channel=channel, skill=skill,
                             priority=packet["priority"], customer_id=customer_id, context=dict(packet))
    position = await queue.enqueue(request)
    logger.info("handoff.requested %s position=%s", masking.for_log(packet), position.position)
    return HandoffResult(packet, position=position)
