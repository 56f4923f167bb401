"""A voice message whose self-help reply the outbox worker held back when it came to send it (the caller opted out, or
was put on the do-not-disturb list, after it was queued): the message goes to a person, as when the reply is held
back when queued (:meth:`VoicemailPipeline._route`), so nothing the caller said is lost. Found in review: it stayed
``selfhelp_sent``, with a ticket no agent works, and nobody ever heard it.
"""
from __future__ import annotations

import asyncio
import logging

from sqlalchemy.exc import SQLAlchemyError

from bot.db.repository import DatabaseError, Repository, TicketTransitionError
from bot.db.schema import recordings, voice_messages
from bot.notify import NotifyError
from bot.outcomes import record
from bot.snapshot import editor_file
from voice.errors import VoicemailConfigError
from voice.voicemail.pipeline import VoicemailOutcome, conversation_id, hand_to_person
from voice.voicemail.policy import (NOTIFY_FAILED, NOTIFY_WITHHELD, POLICY_FILE, SELFHELP_SENT, load_policy,
                                    unclear_decision)

logger = logging.getLogger(__name__)

RECEIVED = "received"  # stored, not routed yet (bot.db.repository.add_voice_message)


async def hand_on(repository: Repository, message_id: str, reason: str, entry_id: str | None = None,
                  settings=None) -> str | None:
    """Put voice message ``message_id`` in front of an agent, its reply held back for ``reason`` (``opt_out``,
    ``dnd``); the work item's ticket id, or None when it no longer waits on that reply (a person has it already).
    :class:`NotifyError` (worth trying again) when it cannot be done now: the database did not answer, or the
    pipeline has not recorded the message's routing yet (the worker then holds the reply back on its next try)."""
    try:
        row = await asyncio.to_thread(repository.get_voice_message, message_id)
    except DatabaseError as exc:
        raise NotifyError(f"cannot read voice message {message_id}: {exc}", sent_nothing=True) from exc
    if row is None or row["outcome"] not in (RECEIVED, SELFHELP_SENT):
        return None
    if row["outcome"] == RECEIVED:
        raise NotifyError(f"voice message {message_id} is not routed yet", sent_nothing=True)
    settings = settings or _settings()
    try:
        policy = editor_file(settings.content_dir / POLICY_FILE, load_policy, (VoicemailConfigError,)).get()
    except VoicemailConfigError as exc:  # never loaded in this process: the reply waits, a person sees why
        raise NotifyError(f"cannot hand voice message {message_id} to a person: {exc}", sent_nothing=True) from exc
    try:
        customer = await asyncio.to_thread(repository.get_customer, row["customer_id"]) if row["customer_id"] else None
        decision = unclear_decision(policy, NOTIFY_WITHHELD.get(reason, NOTIFY_FAILED),
                                    customer.vip_tier if customer else 0)
        outcome = VoicemailOutcome(
            message_id=message_id, duration_s=float(row["duration_s"] or 0), outcome=decision.outcome,
            reason=decision.reason, ticket_id=None, needs_human=True, customer_id=row["customer_id"],
            transcript=row["transcript"], asr_confidence=row["asr_confidence"], intent=row["intent"],
            intent_confidence=row["intent_confidence"], entities=tuple(row["entities"] or ()),
            selfhelp_entry_id=entry_id)
        ticket_id = await hand_to_person(repository, settings, outcome, decision, row["channel"] or "",
                                         row["caller_phone"] or "", customer)
        if not await asyncio.to_thread(_rerouted, repository, message_id, outcome.outcome, ticket_id):
            return None  # changed meanwhile: whoever changed it routed it
    except (DatabaseError, SQLAlchemyError) as exc:
        raise NotifyError(f"cannot hand voice message {message_id} to a person: {exc}", sent_nothing=True) from exc
    await asyncio.to_thread(_note_selfhelp_ticket, repository, row["ticket_id"], reason, ticket_id)
    await record(conversation_id(message_id), "voicemail_routed", channel=row["channel"] or "",
                 database_url=repository.url, outcome=outcome.outcome, reason=outcome.reason, intent=outcome.intent,
                 ticket_id=ticket_id, needs_human=True, selfhelp_entry=entry_id)
    logger.info("voice.voicemail.rerouted id=%s reason=%s ticket=%s was=%s", message_id, outcome.reason, ticket_id,
                row["ticket_id"])
    return ticket_id


def _rerouted(repository: Repository, message_id: str, outcome: str, ticket_id: str) -> bool:
    """The message now the work item's, its recording kept until an agent finishes it (the desk then starts its
    expiry, as for any voice message a person handles); False if it was no longer ``selfhelp_sent``."""
    from bot.db.recordings import VOICE_MESSAGE

    with repository.engine.begin() as conn:
        moved = conn.execute(voice_messages.update().where(
            voice_messages.c.id == message_id, voice_messages.c.outcome == SELFHELP_SENT).values(
            outcome=outcome, needs_human=1, ticket_id=ticket_id)).rowcount
        if moved != 1:
            return False
        conn.execute(recordings.update().where(recordings.c.id == message_id, recordings.c.kind == VOICE_MESSAGE)
                     .values(expires_at=None))
    return True


def _note_selfhelp_ticket(repository: Repository, ticket_id: str | None, reason: str, work_item: str) -> None:
    """The self-help ticket says its reply never went and which work item has the message now."""
    if not ticket_id:
        return
    from bot.ticket_notes import history_note

    try:
        repository.note_ticket(str(ticket_id), history_note(f"selfhelp_withheld_{reason}", ticket=work_item))
    except (DatabaseError, TicketTransitionError, ValueError, KeyError) as exc:  # handed on all the same
        logger.warning("voice.voicemail.withheld_not_noted ticket=%s error=%s", ticket_id, exc)


def _settings():
    from bot.settings import get_settings

    return get_settings()
