"""The human queue as the IVR sees it: transfers go through ``bot.handoff.service.request_handoff``.

A flow's ``transfer`` node queues the call under its one conversation id (``ivr:<call id>``)
with the same packet every channel builds: the identified customer (looked up from the caller
id), their open tickets, whatever the caller said to the assistant earlier in the call (the
Rasa tracker of the same id) and what the flow collected. The Rasa conversation is paused while
the caller waits, as the assistant's own handoff does, and resumed when the caller leaves.
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass

from redis.exceptions import RedisError

from bot.db.repository import DatabaseError, Repository
from bot.handoff.packet import FlowCollected
from bot.ivr.errors import HandoffUnavailable

logger = logging.getLogger(__name__)
# What the queue raises when its store cannot serve; anything else is a bug and reaches the call's
# last handler with its traceback.
QUEUE_DOWN_ERRORS = (RedisError, OSError)

FLOW_TRANSFER = "flow_transfer"


@dataclass(frozen=True)
class QueueTicket:
    position: int
    estimated_wait_s: float


@dataclass(frozen=True)
class BookedCallback:
    """A callback booked from the queue (the waiting room's work item): its ticket and promised time."""

    ticket_id: str
    callback_by: str  # "HH:MM" today, else "MM-DD HH:MM"
    due: str = ""  # the same time, ISO in the customer's zone, as the ticket and the outcome event keep it


class HandoffGateway(ABC):
    @abstractmethod
    async def enqueue(self, *, conversation_id: str, skill: str, priority: int, customer_id: int | None,
                      phone: str, collected: FlowCollected) -> QueueTicket:
        """Put the call in the queue for ``skill``; raises :class:`HandoffUnavailable`."""

    @abstractmethod
    async def estimated_wait(self, skill: str) -> float:
        """Seconds a caller joining the ``skill`` queue now would wait (0.0 when unknown)."""

    async def leave(self, conversation_id: str, reason: str) -> None:
        """The caller left (hung up, pressed * to stop waiting): out of the queue, bot resumed."""

    async def agents_available(self, skill: str) -> bool:
        """Whether an agent of ``skill`` is signed in and available (unknown: True, the queue decides)."""
        return True

    async def waiting(self, conversation_id: str) -> bool:
        """Whether the conversation still waits in the queue (False once an agent took it or it left)."""
        return True

    async def with_agent(self, conversation_id: str) -> bool:
        """Whether an agent has claimed the conversation and is serving it."""
        return False

    async def told_no_agents(self, conversation_id: str) -> None:
        """The flow has told the queued caller that nobody is online: the waiting room does not repeat it."""

    async def own_wait(self, conversation_id: str) -> float | None:
        """Seconds the waiting caller is still expected to wait, from their place; None when unknown, no longer
        waiting, or nobody of their group is signed in (no wait to promise: the waiting room says so)."""
        return None

    async def book_callback(self, conversation_id: str, phone: str, hours=None) -> BookedCallback | None:
        """Turn the waiting entry into a callback, as the waiting room's 预约回电 does, and leave the
        queue; None when there is no waiting entry (the flow's own callback node books it then).
        ``hours``: the engine's ``BusinessHours``, which the promised time counts from (as the flow's own
        callback's does), not the settings' file."""
        return None

    async def place(self, conversation_id: str) -> str | None:
        """The waiting entry's place in line (its request and when it joined), kept by a caller who leaves the
        queue to key a number and may come back to it (:meth:`rejoin`); None when not waiting or unknown."""
        return None

    async def rejoin(self, conversation_id: str, place: str) -> QueueTicket | None:
        """Back in line at ``place`` (from :meth:`place`): the same request, priority and time joined, so
        whoever queued since is still behind; None when the queue cannot take it back."""
        return None


class QueueHandoff(HandoffGateway):
    """``conversations`` is a ``bot.handoff.conversations.RasaConversations`` (None: no tracker)."""

    def __init__(self, redis, repository: Repository, conversations=None, channel: str = "ivr") -> None:
        from bot.handoff.queue import HandoffQueue

        self.queue = HandoffQueue(redis)
        self.repository = repository
        self.conversations = conversations
        self.channel = channel

    async def enqueue(self, *, conversation_id: str, skill: str, priority: int, customer_id: int | None,
                      phone: str, collected: FlowCollected) -> QueueTicket:
        from bot.handoff.service import request_handoff

        customer, tickets = await self._customer(customer_id)
        events = await self.conversations.events(conversation_id) if self.conversations else []
        try:
            result = await request_handoff(
                conversation_id=conversation_id, channel=self.channel, skill=skill, priority=priority,
                reason=FLOW_TRANSFER, customer=customer, phone=phone or None, events=events,
                open_tickets=tickets, collected=collected, queue=self.queue)
        except QUEUE_DOWN_ERRORS as exc:
            raise HandoffUnavailable(f"enqueue failed: {type(exc).__name__}: {exc}") from exc
        if self.conversations is not None:
            await self.conversations.pause(conversation_id)
        return QueueTicket(int(result.position.position), float(result.position.estimated_wait_s))

    async def _customer(self, customer_id: int | None) -> tuple[dict | None, list[dict]]:
        if customer_id is None:
            return None, []
        try:
            customer = await asyncio.to_thread(self.repository.get_customer, int(customer_id))
            tickets = await asyncio.to_thread(self.repository.tickets_for, int(customer_id), open_only=True)
        except DatabaseError as exc:
            logger.warning("ivr.handoff.customer_lookup_failed error=%s", exc)
            return None, []
        return (dataclasses.asdict(customer) if customer else None), list(tickets)

    async def estimated_wait(self, skill: str) -> float:
        try:
            return float(await self.queue.estimated_wait(skill, self.channel))
        except QUEUE_DOWN_ERRORS as exc:
            logger.warning("ivr.handoff.wait_unknown error=%s: %s", type(exc).__name__, exc)
            return 0.0

    async def agents_available(self, skill: str) -> bool:
        try:
            return await self.queue.roster.capacity_for(skill) > 0
        except QUEUE_DOWN_ERRORS as exc:
            logger.warning("ivr.handoff.roster_unknown error=%s: %s", type(exc).__name__, exc)
            return True  # the transfer itself will find out and take on_failure

    async def waiting(self, conversation_id: str) -> bool:
        # Unknown: keep holding, the next message or reminder asks again.
        return await self._entry_state(conversation_id, unknown="waiting") == "waiting"

    async def with_agent(self, conversation_id: str) -> bool:
        # Unknown: * keeps stopping the wait, as it always could.
        return await self._entry_state(conversation_id, unknown="") == "claimed"

    async def own_wait(self, conversation_id: str) -> float | None:
        try:
            entry = await self.queue.entry(conversation_id)
            if entry is None or entry["state"] != "waiting" or await self.queue.roster.capacity_for(entry["skill"]) <= 0:
                return None
            position = await self.queue.position(conversation_id)
        except QUEUE_DOWN_ERRORS as exc:
            logger.warning("ivr.handoff.wait_unknown error=%s: %s", type(exc).__name__, exc)
            return None
        return position.estimated_wait_s if position is not None and position.position else None

    async def _entry_state(self, conversation_id: str, unknown: str) -> str:
        """The queue entry's state ("" without one), or ``unknown`` when the queue cannot say."""
        try:
            entry = await self.queue.entry(conversation_id)
        except QUEUE_DOWN_ERRORS as exc:
            logger.warning("ivr.handoff.entry_unknown error=%s: %s", type(exc).__name__, exc)
            return unknown
        return entry["state"] if entry is not None else ""

    async def told_no_agents(self, conversation_id: str) -> None:
        from bot.handoff.watcher import NOBODY, remember_notice

        try:
            await remember_notice(self.queue, conversation_id, NOBODY)
        except QUEUE_DOWN_ERRORS as exc:  # said once more, at worst
            logger.warning("ivr.handoff.notice_unrecorded error=%s: %s", type(exc).__name__, exc)

    async def book_callback(self, conversation_id: str, phone: str, hours=None) -> BookedCallback | None:
        from sqlalchemy.exc import SQLAlchemyError

        from bot.handoff.waiting_settings import load_waiting_room
        from bot.handoff.waiting_tickets import promised_time, waiting_room_ticket

        try:
            entry = await self.queue.entry(conversation_id)
        except QUEUE_DOWN_ERRORS as exc:
            logger.warning("ivr.handoff.callback_entry_unknown error=%s: %s", type(exc).__name__, exc)
            return None
        if entry is None or entry["state"] != "waiting":
            return None
        now = self.queue.clock()
        try:
            ticket_id, due = await waiting_room_ticket(entry["request"], kind="callback", phone=phone, now=now,
                                                       within_hours=load_waiting_room().callback_within_hours, hours=hours)
        except (DatabaseError, SQLAlchemyError) as exc:
            logger.warning("ivr.handoff.callback_failed error=%s", type(exc).__name__)
            return None
        await self.leave(conversation_id, "callback")
        return BookedCallback(ticket_id, promised_time(due, now), due.isoformat(timespec="minutes"))

    async def place(self, conversation_id: str) -> str | None:
        try:
            entry = await self.queue.entry(conversation_id)
        except QUEUE_DOWN_ERRORS as exc:
            logger.warning("ivr.handoff.place_unknown error=%s: %s", type(exc).__name__, exc)
            return None
        if entry is None or entry["state"] != "waiting":
            return None
        return json.dumps({"request": dataclasses.asdict(entry["request"]), "enqueued_at": entry["enqueued_at"],
                           "waiting_since": entry["waiting_since"]}, ensure_ascii=False, default=str)

    async def rejoin(self, conversation_id: str, place: str) -> QueueTicket | None:
        from bot.handoff.queue import HandoffRequest

        kept = json.loads(place)
        try:
            position = await self.queue.enqueue(
                HandoffRequest(**kept["request"]), enqueued_at=float(kept["enqueued_at"]),
                waiting_since=float(kept.get("waiting_since") or kept["enqueued_at"]), back_in_line=True)
        except QUEUE_DOWN_ERRORS as exc:
            logger.warning("ivr.handoff.rejoin_failed error=%s: %s", type(exc).__name__, exc)
            return None
        if self.conversations is not None:
            await self.conversations.pause(conversation_id)
        return QueueTicket(int(position.position), float(position.estimated_wait_s))

    async def leave(self, conversation_id: str, reason: str) -> None:
        try:
            await self.queue.abandon(conversation_id, reason)
        except QUEUE_DOWN_ERRORS as exc:  # the entry expires with the queue's own TTLs
            logger.warning("ivr.handoff.abandon_failed error=%s: %s", type(exc).__name__, exc)
        if self.conversations is not None:
            await self.conversations.unpause(conversation_id)
