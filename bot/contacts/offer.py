"""Offer a contact to the agents: a booked callback (or a contact a person must make) joins the
handoff queue at its time, with the context packet, so the desk claims it like any waiting customer.

Counting (README "Callbacks"): the customer's first wait ended with ``handoff_abandoned`` reason
``callback`` — a booked callback, not an abandonment. The callback enters the skill's queue with
``enqueued_at`` = the time promised to the customer, so its ``handoff_claimed.wait_s`` — the speed of
answer that ASA and service level are computed from — is how late the agent was against that promise.

The packet: a callback booked in a waiting room carries the handoff's own packet; one the contact
planner found from a callback ticket (booked with the bot, or on the phone) carries only the customer's
words. Either way the agent gets a whole packet (:func:`callback_packet`): channel, skill, reason
``callback``, and, when the ticket is on a customer's account, that customer and their open tickets.
Found by a journey tester: the desk showed 未识别客户, blank channel and skill and ``reason_undefined``
for a verified customer's callback.

Only a customer who proved who they are is shown as the customer. A callback ticket filed on an account
someone only named (a number typed in a chat: ``customer_proven`` false, ``bot.handoff.tickets``) reaches
the agent as a named number — the number to ring, marked unproven (``callback.proven``), with no account,
name or address and only the tickets filed in its own conversation — and the desk treats the conversation
as unverified (opt-out, reveal of account fields). Found by a cross-channel journey tester: such a
callback showed the number's account holder as the customer.
"""
from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt

from bot.handoff.handback import owed as handback_owed
from bot.handoff.packet import build_packet, ticket_lines
from bot.handoff.queue import HandoffQueue, HandoffRequest
from bot.handoff.tickets import customer_proven

CALLBACK_REASON = "callback"


def promised_at(contact: dict) -> float:
    return contact["due_at"].replace(tzinfo=dt.timezone.utc).timestamp()


def proven(contact: dict) -> bool:
    """Whether the callback's customer proved who they are (not only named) when it was booked."""
    return customer_proven(contact["details"])


def callback_packet(contact: dict, *, customer: dict | None = None, open_tickets: list[dict] | None = None) -> dict:
    """The packet the agent reads for ``contact``: what was stored with it, completed.

    ``customer`` and ``open_tickets`` are the ticket's customer's, read now (None: not on an account);
    they replace stored ones, which date from the booking. Everything else stored is kept.
    """
    details = contact["details"] or {}
    stored = dict(details.get("context") or {})
    packet = dict(build_packet(
        conversation_id=details.get("conversation_id") or f"contact:{contact['id']}",
        channel=details.get("channel") or "callback", skill=details.get("skill") or "general",
        priority=int(details.get("priority") or 0), reason=CALLBACK_REASON, enqueued_at=promised_at(contact),
        customer=customer, open_tickets=open_tickets or ()))
    said = [str(s) for s in stored.get("customer_said") or [] if s]
    if said:  # a ticket's callback: the customer's words are its transcript
        packet["transcript"] = [{"who": "customer", "text": s} for s in said]
    packet.update({key: value for key, value in stored.items() if value not in (None, "", [], {})})
    if customer is not None:
        packet["customer"] = customer
        packet["phone"] = stored.get("phone") or customer.get("phone")
        packet["open_tickets"] = ticket_lines(open_tickets or ())
    packet["callback"] = {"contact_id": contact["id"], "ticket_id": contact["ticket_id"], "phone": contact["phone"],
                          "purpose": contact["purpose"], "rule": contact["rule"], "proven": proven(contact),
                          "promised_at": contact["due_at"].isoformat(timespec="minutes")}
    return packet


def offer_request(contact: dict, *, customer: dict | None = None,
                  open_tickets: list[dict] | None = None) -> HandoffRequest:
    details = contact["details"] or {}
    context = callback_packet(contact, customer=customer, open_tickets=open_tickets)
    customer_id = contact["customer_id"] if proven(contact) else None
    return HandoffRequest(conversation_id=context["conversation_id"], channel=details.get("channel") or "callback",
                          skill=details.get("skill") or "general", priority=int(details.get("priority") or 0),
                          customer_id=str(customer_id) if customer_id is not None else None, context=context)


def account_of(repository, contact: dict) -> tuple[dict | None, list[dict]]:
    """The proven customer a callback ticket is on, as a packet holds one, and their open tickets; for
    one only named, no customer and the open tickets filed in the callback's own conversation."""
    customer_id = contact["customer_id"]
    if repository is None:
        return None, []
    if customer_id is None or not proven(contact):
        conversation_id = (contact["details"] or {}).get("conversation_id") or ""
        return None, repository.tickets_for(None, open_only=True, conversation_id=conversation_id)
    customer = repository.get_customer(int(customer_id))
    if customer is None:
        return None, []
    return dataclasses.asdict(customer), repository.tickets_for(customer.id, open_only=True)


def booked_from_this_wait(entry: dict, contact: dict) -> bool:
    """Whether the customer still waits in the wait they booked the callback from: the waiting room
    schedules it a moment before taking them out of line (``bot/handoff/watcher.py``), so a worker's
    pass in that moment finds them waiting, not back on their own."""
    booked = contact.get("created_at")
    return (entry["state"] == "waiting" and booked is not None
            and entry["waiting_since"] <= booked.replace(tzinfo=dt.timezone.utc).timestamp())


async def offer_to_agents(queue: HandoffQueue, contact: dict, repository=None) -> bool | None:
    """Queue the contact for an agent; False when the conversation is already waiting or being served,
    None when not yet: its customer is still leaving the wait they booked it from, or is still owed the hand-back
    that tells them it is booked (``bot.handoff.handback.owed``: a confirmation cut off, finished by the waiting
    room; queued now, the record written anew, it never would be).

    ``repository`` (bot.db.repository.Repository) reads the customer the callback's ticket is on."""
    customer, open_tickets = await asyncio.to_thread(account_of, repository, contact)
    request = offer_request(contact, customer=customer, open_tickets=open_tickets)
    entry = await queue.entry(request.conversation_id)
    if entry is not None and (booked_from_this_wait(entry, contact)
                              or await handback_owed(queue, request.conversation_id)):
        return None
    if entry is not None and entry["state"] in ("waiting", "claimed"):
        return False  # the customer came back on their own: they are in line already
    await queue.enqueue(request, enqueued_at=promised_at(contact))
    return True
