"""A work item (an open ticket a person must act on) as an agent reads it: the number to call,
by when, and what the customer said — not the ticket's internal summary line."""
from __future__ import annotations

from datetime import datetime

from bot.db.repository import Repository
from bot.handoff import masking


def phone_to_call(ticket: dict, repository: Repository) -> str | None:
    """The number to call: asked for, or the caller's own line (a phone callback or voice message
    from a number that is no customer's; found by a tester, who saw no number on the item)."""
    details = ticket.get("details") or {}
    phone = (details.get("callback_phone") or details.get("phone") or details.get("caller")
             or (details.get("handoff") or {}).get("phone"))
    if not phone and ticket.get("customer_id"):
        customer = repository.get_customer(int(ticket["customer_id"]))
        phone = customer.phone if customer else None
    return phone


def readable(ticket: dict, repository: Repository) -> dict:
    details = ticket.get("details") or {}
    phone = phone_to_call(ticket, repository)
    said = details.get("customer_said") or []
    message = details.get("left_message") or ""
    created = ticket.get("created_at")
    return {
        "ticket_id": ticket["ticket_id"], "kind": ticket["kind"], "status": ticket["status"],
        "priority": ticket["priority"], "channel": ticket["channel"],
        # masked like the packet's number; the agent calling back opens it with the desk's recorded reveal
        "phone": masking.mask_number(phone) if phone else None,
        "callback_by": details.get("callback_by"),
        "message": masking.mask_text(message),
        "customer_said": [masking.mask_text(s) for s in said],
        "summary": masking.mask_text(ticket.get("summary") or ""),
        "created_at": created.isoformat(timespec="minutes") if isinstance(created, datetime) else created,
    }
