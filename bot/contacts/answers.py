"""What a customer answered during a contact, taken back to the ledger and the outcome record.

The phone flow's ``answer`` nodes (``ivr_flows/followup.yml``…) call :func:`apply_answer` with the
attempt token the call carried. ``fixed`` closes the ticket's follow-up step in the ledger,
``not_fixed`` reopens it (someone must act on it again), ``csat`` records the score, ``opt_out``
puts the number on the block list. Every answer is also an outcome event of the call's conversation.
"""
from __future__ import annotations

import asyncio
import logging

from bot.contacts.schedule import Schedule, address_of
from bot.db.repository import Repository, TicketTransitionError
from bot.outcomes import record
from bot.outcomes.events import customer_key
from bot.ticket_notes import history_note

logger = logging.getLogger(__name__)

ANSWERS = ("fixed", "not_fixed", "csat", "opt_out", "heard")
ENDING = {"fixed": "done", "not_fixed": "done", "heard": "done", "opt_out": "done"}


def _ledger_effect(repository: Repository, ticket_id: str | None, answer: str) -> str:
    """Move the ticket for ``answer``; returns what happened (for the event), "" for nothing."""
    if not ticket_id or answer not in ("fixed", "not_fixed"):
        return ""
    ticket = repository.get_ticket(ticket_id)
    if ticket is None or ticket["status"] not in ("resolved", "customer_told"):
        return ""
    to_status = "follow_up_done" if answer == "fixed" else "open"
    try:
        repository.move_ticket(ticket_id, to_status, note=history_note(f"followup_{answer}"))
    except TicketTransitionError as exc:  # moved by someone else meanwhile
        logger.info("contacts.ledger.unchanged ticket=%s reason=%s", ticket_id, exc)
        return ""
    return "follow_up_done" if answer == "fixed" else "reopened"


def _apply(repository: Repository, token: str, answer: str, value: str) -> dict | None:
    schedule = Schedule(repository)
    contact = schedule.by_token(token)
    if contact is None:
        return None
    details = {**(contact["details"] or {}), f"answer_{answer}": value or answer}
    if answer in ENDING and contact["status"] in ("working", "calling"):
        schedule.finish(contact["id"], token, result=answer, details=details)
    else:
        schedule.set_result(contact["id"], token, contact["result"] or answer, details)
    if answer == "opt_out":
        schedule.block(address_of("phone", contact["phone"], ""), "opt_out", via="phone_key")
    ledger = _ledger_effect(repository, contact["ticket_id"], answer)
    return {**contact, "ledger": ledger}


async def apply_answer(repository: Repository, token: str, answer: str, value: str = "", *,
                       conversation_id: str, channel: str = "ivr") -> bool:
    """Record ``answer`` for the contact of ``token``; False when the token names no contact."""
    if answer not in ANSWERS:
        raise ValueError(f"unknown contact answer {answer!r}")
    contact = await asyncio.to_thread(_apply, repository, token, answer, value)
    if contact is None:
        logger.warning("contacts.answer.unknown_token conversation=%s answer=%s", conversation_id, answer)
        return False
    customer = customer_key(customer_id=contact["customer_id"], phone=contact["phone"])
    common = {"channel": channel, "customer": customer, "database_url": repository.url}
    await record(conversation_id, "contact_answered", contact_id=contact["id"], purpose=contact["purpose"],
                 answer=answer, ticket_id=contact["ticket_id"], ledger=contact["ledger"], **common)
    if answer == "csat" and value.isdigit():
        await record(conversation_id, "csat_given", score=int(value), contact_id=contact["id"],
                     ticket_id=contact["ticket_id"], **common)
    if answer == "opt_out":
        await record(conversation_id, "contact_opted_out", contact_id=contact["id"], via="phone_key", **common)
    logger.info("contacts.answer contact=%s answer=%s ledger=%s", contact["id"], answer, contact["ledger"] or "-")
    return True
