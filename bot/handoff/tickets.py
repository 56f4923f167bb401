"""Tickets the handoff writes: a message left while waiting, a callback or a follow-up from
the agent's disposition. All are ``needs_human`` work items on the desk except resolved ones."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from itertools import islice
from typing import Callable

from bot.db.repository import Repository, TicketPlan
from bot.handoff.close_filing import FILED_BY, by_close, taken_up
from bot.handoff.queue import HandoffRequest
from bot.repair_faults import faults_of, repairs
from bot.labels import ticket_summary
from bot.settings import get_settings
from bot.ticket_notes import history_note


# How an agent closes a conversation (the desk's 结束服务; the glance names each by ``disposition_<name>``,
# and `kefu validate` names one missing).
DISPOSITIONS = ("resolved", "ticket", "callback", "transfer")
# Tickets that ask for a call or carry a message: a follow-up of the problem is not one of them.
CONTACT_REQUESTS = ("callback", "voice_message")
# In a ticket's details: whether the customer the ticket is on proved who they are when it was filed
# (False: only named, e.g. a number typed in a chat, or the owner of the number an agent is to ring).
# Tickets without it count as proven: a handoff or a trusted caller ID files tickets on proven customers only.
CUSTOMER_PROVEN = "customer_proven"


def customer_proven(details: dict | None) -> bool:
    return (details or {}).get(CUSTOMER_PROVEN) is not False


def callback_number(details: dict | None) -> str | None:
    """Where a callback ticket reaches the customer: ``callback_phone``, as every channel writes it. A phone
    flow's callback tickets booked before it did kept the number as ``caller``: still read."""
    details = details or {}
    return details.get("callback_phone") or details.get("caller") or None


def repository() -> Repository:
    return Repository(get_settings().database_url)


def customer_id_of(request: HandoffRequest) -> int | None:
    try:
        return int(request.customer_id) if request.customer_id else None
    except ValueError:
        return None


async def leave_message_ticket(request: HandoffRequest, text: str, *, voice: bool) -> str:
    return await asyncio.to_thread(
        repository().create_ticket, kind="voice_message" if voice else "callback",
        customer_id=customer_id_of(request), summary=ticket_summary("left_message", said=text[:500]),
        details={"left_message": text, "skill": request.skill, "via": "handoff_queue"},
        priority=request.priority, needs_human=True, channel=request.channel,
        conversation_id=request.conversation_id,
    )


async def disposition_ticket(request: HandoffRequest, disposition: str, note: str, agent_id: str,
                             callback_phone: str | None = None, filed_by: str = "") -> str | None:
    """The ledger entry for how the agent closed: resolved or ticket (follow-up); the agent owns it.
    (A callback is ``agent_callback_ticket``'s: a work item with the number and the promised time.)
    ``callback_phone``: where a follow-up reaches the customer when it is on nobody's account.
    ``filed_by``: the close a ticket filed new, or taken up, is noted with (bot.handoff.close_filing), so its retry
    finds it: a ticket it resolved is not filed again resolved, nor its note added twice to one it followed up.
    A callback offered from the contact schedule is done then, whatever the disposition."""
    repo = repository()
    offered = ((request.context or {}).get("callback") or {}).get("contact_id")
    if offered:
        from bot.contacts.schedule import Schedule

        await asyncio.to_thread(Schedule(repo).handled_by_agent, int(offered), disposition, agent_id)
    slots = (request.context or {}).get("slots") or {}
    if disposition == "resolved":
        # a callback offered from the contact schedule (bot/contacts/offer.py) resolves its own ticket
        offered_ticket = ((request.context or {}).get("callback") or {}).get("ticket_id")
        related = offered_ticket or slots.get("last_ticket_id")
        ticket = await asyncio.to_thread(repo.get_ticket, related) if related else None
        resolving = await asyncio.to_thread(repo.move_ticket_by, related, resolved_by(filed_by, agent_id, note)) \
            if ticket and (offered_ticket or served_ones(ticket, request)) else None
        if resolving is not None:  # resolved now, or by an earlier try of this close
            if resolving.answer == "resolved":
                await asyncio.to_thread(told_in_conversation, repo, related, agent_id)
            await asyncio.to_thread(repo.set_ticket_owner, related, agent_id, if_unowned=True)
            return related
        ticket_id = await asyncio.to_thread(
            repo.create_ticket, kind="handoff", customer_id=customer_id_of(request), summary=note[:500] or ticket_summary("agent_resolved"),
            details={"agent_id": agent_id, "skill": request.skill, "disposition": disposition, **filed(filed_by)},
            channel=request.channel, conversation_id=request.conversation_id)
        await asyncio.to_thread(repo.move_ticket, ticket_id, "resolved", history_note("agent_resolved", agent=agent_id))
        await asyncio.to_thread(told_in_conversation, repo, ticket_id, agent_id)
        await asyncio.to_thread(repo.set_ticket_owner, ticket_id, agent_id)  # the ledger shows who resolved it
        return ticket_id
    followed = await own_open_ticket(repo, request.conversation_id, customer_id_of(request), slots.get("fault_type"),
                                     since=session_began(request))
    if followed is not None:  # the same problem: one ticket for the customer to follow, with the agent's note
        await asyncio.to_thread(repo.move_ticket_by, followed, followed_up_by(filed_by, disposition, agent_id, note))
        await asyncio.to_thread(repo.set_ticket_owner, followed, agent_id, if_unowned=True)
        return followed
    kind = (slots.get("fault_type") and "fault") or "handoff"
    ticket_id = await asyncio.to_thread(
        repo.create_ticket, kind=kind, customer_id=customer_id_of(request), summary=note[:500] or ticket_summary(f"agent_{disposition}"),
        details={"agent_id": agent_id, "skill": request.skill, "disposition": disposition,
                 "fault_type": slots.get("fault_type"), "fault_code": slots.get("fault_code"),
                 **({"also_fault_types": others} if (others := [f for f in faults_of(slots)
                                                                 if f != slots.get("fault_type")]) else {}),
                 **({"callback_phone": callback_phone} if callback_phone else {}), **filed(filed_by)},
        priority=request.priority, needs_human=True, channel=request.channel,
        conversation_id=request.conversation_id)
    await asyncio.to_thread(repo.set_ticket_owner, ticket_id, agent_id)  # who took it on, in the ledger
    return ticket_id


def resolved_by(close: str, agent_id: str, note: str):
    """The plan (``Repository.move_ticket_by``) of 已解决 on an open ticket: resolved, noted as taken up by ``close``
    in the same write; one that close took up already is left as it is. Its answer: the ticket's status after (the
    customer is noted told next while it is ``resolved``). None: not open, nor taken up by that close."""
    def plan(status: str, details: dict) -> TicketPlan | None:
        if by_close(details, close, "resolved"):
            return TicketPlan(answer=status)
        if status not in ("open", "assigned"):
            return None
        return TicketPlan(moves=("resolved",), details=taken_up(details, close, "resolved"), answer="resolved",
                          note=history_note("agent_resolved", agent=agent_id, note=note))
    return plan


def followed_up_by(close: str, disposition: str, agent_id: str, note: str):
    """The plan of 转工单跟进 onto an open ticket: the agent's note, noted as taken up by ``close`` in the same
    write; nothing on a ticket that close took up already (its retry)."""
    def plan(status: str, details: dict) -> TicketPlan | None:
        if by_close(details, close, disposition):
            return None
        return TicketPlan(details=taken_up(details, close, disposition),
                          note=history_note("agent_followup", agent=agent_id, note=note))
    return plan


def filed(filed_by: str) -> dict:
    """The details noting the close that filed a ticket (bot.handoff.close_filing.FILED_BY), if any."""
    return {FILED_BY: filed_by} if filed_by else {}


def served_ones(ticket: dict, request: HandoffRequest) -> bool:
    """Whether ``ticket`` is the conversation's to close: filed in it, or on the proven customer's account.
    The ticket last told of may be a named customer's repair that an unproven report joined: the
    agent's 已解决 closed it (found in a security review)."""
    customer_id = customer_id_of(request)
    return ticket["conversation_id"] == request.conversation_id or (
        customer_id is not None and ticket["customer_id"] == customer_id)


def told_in_conversation(repo: Repository, ticket_id: str, agent_id: str) -> None:
    """A problem the agent resolved with the customer in the conversation: the customer has heard the
    result, so the ledger's 已告知客户 step is done then. Found by a tester: every 已解决 became an
    item that went overdue (customer_told due) unless someone ticked 已告知客户 by hand."""
    repo.move_ticket(ticket_id, "customer_told", history_note("told_in_conversation", agent=agent_id))


# A ticket filed in a session is at most this much older than the session's first turn as the clocks
# tell (the database's and Rasa's may differ); one of an earlier session is older by the session's idle
# expiry at least (60 minutes, ``session_expiration_time`` in domain/core.yml).
SESSION_CLOCK_MARGIN = timedelta(minutes=10)


def session_start_bound(stamp: float | None) -> datetime | None:
    """The oldest a ticket filed in the session that began at ``stamp`` (a Rasa timestamp) can look (naive UTC)."""
    return datetime.utcfromtimestamp(stamp) - SESSION_CLOCK_MARGIN if stamp is not None else None


def session_began(request: HandoffRequest) -> datetime | None:
    """:func:`session_start_bound` of the session the packet was built in: its transcript holds that
    session only, from its first turn; None if the packet does not tell."""
    stamps = [t["at"] for t in (request.context or {}).get("transcript") or [] if isinstance(t.get("at"), (int, float))]
    return session_start_bound(min(stamps)) if stamps else None


async def own_open_ticket(repo: Repository, conversation_id: str, customer_id: int | None = None,
                         fault_type: str | None = None, since: datetime | None = None) -> str | None:
    """The open ticket a 转工单跟进 follows: the newest filed in this conversation for the customer's
    problem (a complaint, a fault...), not a request to be contacted (found by a tester: a customer who
    had just filed a complaint got a second ticket number for it); else the verified customer's open
    repair of the fault this conversation is about, filed anywhere (found by a tester: the repair
    reported on WeChat, shown in the packet and chased in this web chat, got a second fault ticket).
    ``since``: filed in the conversation's session from then on only: a web chat keeps its id after a
    session ends, and the next person at a tab left open was told the earlier customer's ticket number
    as theirs, with the agent's note added to it (found in a security review)."""
    own = await asyncio.to_thread(repo.tickets_for, None, open_only=True, conversation_id=conversation_id)
    mine = next((t["ticket_id"] for t in own if t["kind"] not in CONTACT_REQUESTS
                 and (since is None or t["created_at"] >= since)), None)
    if mine is not None or customer_id is None or not fault_type:
        return mine
    theirs = await asyncio.to_thread(repo.tickets_for, customer_id, open_only=True)
    return next((t["ticket_id"] for t in theirs if repairs(t, fault_type)), None)


def work_items(visible: Callable[[dict], bool], limit: int = 50) -> list[dict]:
    """Open tickets a person must work (callbacks, voice messages, complaints...), urgent first;
    only those ``visible`` says the agent may see (their skill groups), so the limit counts theirs."""
    import sqlalchemy as sa

    from bot.db.schema import tickets

    repo = repository()
    query = (sa.select(tickets).where(tickets.c.needs_human == 1, tickets.c.status.in_(["open", "assigned"]))
             .order_by(tickets.c.priority.desc(), tickets.c.id))
    with repo.engine.connect() as conn:
        return list(islice(filter(visible, (dict(r) for r in conn.execute(query).mappings())), limit))
