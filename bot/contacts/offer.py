"""Offer a contact to the agents: a booked callback (or a contact a person must make) joins the
handoff queue at its time, with the context packet, so the desk claims it like any waiting customer.

Counting (README "Callbacks"): the customer's first wait ended with ``handoff_abandoned`` reason
``callback`` — a booked callback, not an abandonment. The callback enters the skill's queue with
``enqueued_at`` = the time promised to the customer, so its ``handoff_claimed.wait_s`` — the speed of
answer that ASA and service level are computed from — is how late the agent was against that promise.
"""
from __future__ import annotations

import datetime as dt

from bot.handoff.queue import HandoffQueue, HandoffRequest


def offer_request(contact: dict) -> HandoffRequest:
    details = contact["details"] or {}
    context = dict(details.get("context") or {})
    context["callback"] = {"contact_id": contact["id"], "ticket_id": contact["ticket_id"], "phone": contact["phone"],
                           "purpose": contact["purpose"], "rule": contact["rule"],
                           "promised_at": contact["due_at"].isoformat(timespec="minutes")}
    conversation_id = details.get("conversation_id") or f"contact:{contact['id']}"
    customer_id = contact["customer_id"]
    return HandoffRequest(conversation_id=conversation_id, channel=details.get("channel") or "callback",
                          skill=details.get("skill") or "general", priority=int(details.get("priority") or 0),
                          customer_id=str(customer_id) if customer_id is not None else None, context=context)


async def offer_to_agents(queue: HandoffQueue, contact: dict) -> bool:
    """Queue the contact for an agent; False when the conversation is already waiting or being served."""
    request = offer_request(contact)
    entry = await queue.entry(request.conversation_id)
    if entry is not None and entry["state"] in ("waiting", "claimed"):
        return False  # the customer came back on their own: they are in line already
    promised = contact["due_at"].replace(tzinfo=dt.timezone.utc).timestamp()
    await queue.enqueue(request, enqueued_at=promised)
    return True
