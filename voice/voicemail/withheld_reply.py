"""A voice message whose self-help reply the outbox worker held back when it came to send it (the caller opted out, or
was put on the do-not-disturb list, after it was queued): the message goes to a person, as when the reply is held
back when queued (:meth:`VoicemailPipeline._route`), so nothing the caller said is lost. Found in review: it stayed
``selfhelp_sent``, with a ticket no agent works, and nobody ever heard it. Its self-help ticket becomes the person's
work item, in the transaction that moves the message (``Repository.hand_voice_message_on``): one ticket for one
message, and a retry after a failure files no second one.

The same goes for a reply the outbox gave up on (reason ``undelivered``: the gateway refused it for good, its hour to
be delivered ran out, or the channel reported it not delivered, bot/outbound/worker.py ``give_up``): found in review,
the message stayed ``selfhelp_sent`` and nobody heard it, though the caller never got an answer.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Callable

from sqlalchemy.exc import SQLAlchemyError

from bot.db.repository import DatabaseError, Repository
from bot.notify import NotifyError
from bot.outcomes import record
from bot.snapshot import editor_file
from voice.errors import VoicemailConfigError
from voice.voicemail.pipeline import VoicemailOutcome, conversation_id, hand_to_person
from voice.voicemail.policy import (NOTIFY_DROPPED, NOTIFY_FAILED, NOTIFY_UNDELIVERED, NOTIFY_WITHHELD, POLICY_FILE,
                                    RECEIVED, SELFHELP_SENT, load_policy, unclear_decision, with_a_person)

logger = logging.getLogger(__name__)

UNDELIVERED = "undelivered"  # the outbox gave the reply up: not the caller's choice, so texting them is fine
DROPPED = "dropped"  # a person dropped the reply before it went (kefu outbox drop): the caller still waits for one
# The work item's reason (content/ui/agent_desk.zh.json ``reason_voicemail_<reason>``) for each reason to hand on.
WORK_ITEM_REASON = {**NOTIFY_WITHHELD, UNDELIVERED: NOTIFY_UNDELIVERED, DROPPED: NOTIFY_DROPPED}


def note_kind(reason: str) -> str:
    """The self-help ticket's history note (content/labels.yml ``ticket_history``) for a reply that never went."""
    return f"selfhelp_{reason}" if reason in (UNDELIVERED, DROPPED) else f"selfhelp_withheld_{reason}"


async def hand_on(repository: Repository, message_id: str, reason: str, entry_id: str | None = None,
                  settings=None) -> str | None:
    """Put voice message ``message_id`` in front of an agent, its reply held back for ``reason`` (``opt_out``,
    ``dnd``), given up by the outbox (``undelivered``) or dropped by a person (``dropped``); the work item's ticket
    id, or None when it no longer waits on that reply (a person has it already).
    :class:`NotifyError` (worth trying again) when it cannot be done now: the database did not answer, or the
    pipeline has not recorded the message's routing yet (the worker then holds the reply back on its next try)."""
    try:
        row = await asyncio.to_thread(repository.get_voice_message, message_id)
    except DatabaseError as exc:
        raise NotifyError(f"cannot read voice message {message_id}: {exc}", sent_nothing=True) from exc
    if row is None or with_a_person(row["outcome"]):
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
        decision = unclear_decision(policy, WORK_ITEM_REASON.get(reason, NOTIFY_FAILED),
                                    customer.vip_tier if customer else 0)
        outcome = VoicemailOutcome(
            message_id=message_id, duration_s=float(row["duration_s"] or 0), outcome=decision.outcome,
            reason=decision.reason, ticket_id=None, needs_human=True, customer_id=row["customer_id"],
            transcript=row["transcript"], asr_confidence=row["asr_confidence"], intent=row["intent"],
            intent_confidence=row["intent_confidence"], entities=tuple(row["entities"] or ()),
            selfhelp_entry_id=entry_id)
        ticket_id = await hand_to_person(repository, settings, outcome, decision, row["channel"] or "",
                                         row["caller_phone"] or "", customer,
                                         write=_handed_on(repository, message_id, outcome.outcome, reason))
    except _RoutedMeanwhile:
        return None  # whoever changed it routed it
    except (DatabaseError, SQLAlchemyError) as exc:
        raise NotifyError(f"cannot hand voice message {message_id} to a person: {exc}", sent_nothing=True) from exc
    await record(conversation_id(message_id), "voicemail_routed", channel=row["channel"] or "",
                 database_url=repository.url, outcome=outcome.outcome, reason=outcome.reason, intent=outcome.intent,
                 ticket_id=ticket_id, needs_human=True, selfhelp_entry=entry_id)
    logger.info("voice.voicemail.rerouted id=%s reason=%s ticket=%s was=%s", message_id, outcome.reason, ticket_id,
                row["ticket_id"])
    return ticket_id


class _RoutedMeanwhile(Exception):
    """The message was no longer ``selfhelp_sent`` when its work item was to be written: nothing was."""


def _handed_on(repository: Repository, message_id: str, outcome: str, reason: str) -> Callable[..., str]:
    """The work item's write (``WorkItem.write``): the message, its self-help ticket made the work item (or a new
    one, noted on it) and its recording kept, in one transaction (``Repository.hand_voice_message_on``); the
    ticket notes why the reply never went."""
    from bot.ticket_notes import history_note

    def write(**work_item) -> str:
        ticket_id = repository.hand_voice_message_on(
            message_id, was=SELFHELP_SENT, outcome=outcome,
            note=lambda work: history_note(note_kind(reason), ticket=work), **work_item)
        if ticket_id is None:
            raise _RoutedMeanwhile(message_id)
        return ticket_id

    return write


def _settings():
    from bot.settings import get_settings

    return get_settings()
