"""Messages to customers not delivered yet, for an operator (``kefu outbox``): list them, send one again
(after fixing the gateway's key, or once it is back), or drop one for good.

A message is given up (``failed``) when the gateway refused it or it could not go out in time
(``bot/outbound/worker.py``); nothing sends it again unless a person says so, because only a person
can tell whether a text hours late still helps the customer. A verification code past its validity
cannot be resent (the customer asks for a new one), nor can a message queued more than
``RESEND_WITHIN`` ago — such as those an earlier Kefu version gave up, which show as failed after
the upgrade: a text that late misleads more than it helps, so they can only be dropped.
"""
from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass
from typing import Iterator

import sqlalchemy as sa

from bot.db.repository import Repository
from bot.db.schema import outbox
from bot.outbound.outbox_rows import (GAVE_UP, OutboxRowError, change, given_up, move, row_number, stamp,
                                      waited_seconds)
from bot.outbound.voice_reply import why_not_sent, with_a_person
from bot.outbound.worker import out_of_time, to_customers

logger = logging.getLogger(__name__)

UNDELIVERED = ("pending", "sending", "failed")
# Listed too, after those (found in review: an operator could not see what was held back): never sent, its recipient
# having opted out; kept until the retention's pass (bot/outbound/retention.py).
WITHHELD = "withheld"
LISTED = (*UNDELIVERED, WITHHELD)
RESEND_WITHIN = dt.timedelta(hours=24)
# pending: try now instead of at its next retry time; withheld: once the recipient is no longer blocked
RESENDABLE = ("failed", "pending", "withheld")
DROPPABLE = ("failed", "pending")
LISTED_BY = "kefu outbox list"
OUTBOX_REF = re.compile(r"outbox-(\d+)")  # the client_ref an outbox message is sent under (bot/outbound/worker.py)
WHY_NOT = {
    "sent": "the customer's channel took it",
    "sending": "a worker is sending it now",
    "dropped": "it was given up for good",
    "withheld": "it was held back, its recipient having opted out, and was never sent",
}


@dataclass(frozen=True)
class UndeliveredMessage:
    id: int
    channel: str
    kind: str
    recipient: str
    state: str          # pending (waiting, or waiting to be tried again), sending, failed, withheld
    attempts: int
    last_error: str
    waited_s: float     # since it was queued, by the database's clock


def masked(recipient: str) -> str:
    """All but the last four characters hidden: enough to tell messages apart, not to text anyone."""
    return "*" * max(0, len(recipient) - 4) + recipient[-4:]


def undelivered(repository: Repository, *, failed_only: bool = False, limit: int = 1000) -> list[UndeliveredMessage]:
    """Every message to a customer waiting, being sent or given up, oldest first; then those held back
    (``withheld``), oldest first, so that however many there are they never hide one a person can act on."""
    states = ("failed",) if failed_only else LISTED
    query = (sa.select(outbox, waited_seconds(repository.engine).label("waited_s"))
             .where(to_customers(), outbox.c.status.in_(states))
             .order_by(sa.case((outbox.c.status == WITHHELD, 1), else_=0), outbox.c.id).limit(limit))
    with repository.engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(query).mappings()]
    return [UndeliveredMessage(row["id"], row["channel"], row["kind"], row["recipient"], row["status"],
                               int((row["payload"] or {}).get("attempts") or 0), last_error(row),
                               max(0.0, float(row["waited_s"] or 0.0)))
            for row in rows]


def last_error(row: dict) -> str:
    """Why the message is not delivered, as an operator reads it: for one held back, whose block held it."""
    payload = row["payload"] or {}
    if row["status"] == WITHHELD:
        reason = payload.get("withheld") or ""
        return f"held back, never sent: {BLOCKED.get(reason, reason or 'its recipient opted out')}"
    return payload.get("last_error") or ""


def counts_by_state(repository: Repository) -> dict[str, int]:
    """How many messages to customers are failed, pending, sending and withheld: all of them, however many are
    listed."""
    query = (sa.select(outbox.c.status, sa.func.count()).where(to_customers(), outbox.c.status.in_(LISTED))
             .group_by(outbox.c.status))
    found = dict.fromkeys(("failed", "pending", "sending", WITHHELD), 0)
    with repository.engine.connect() as conn:
        found.update({status: int(count) for status, count in conn.execute(query)})
    return found


def message_number(text: str) -> int:
    """``42`` or ``outbox-42`` (the ``client_ref`` the gateway saw)."""
    return row_number(text, "message", LISTED_BY)


def too_late(row: dict) -> str | None:
    """Why a row may not be sent again now, if it may not: it lapsed, or it was queued too long ago."""
    if out_of_time(dict(row["payload"] or {}), dt.datetime.utcnow()):
        return "it was only valid for a while and that time is over (a code: the customer asks for a new one)"
    if float(row["waited_s"] or 0.0) > RESEND_WITHIN.total_seconds():
        return (f"it was queued more than {RESEND_WITHIN.total_seconds() / 3600:.0f} hours ago, and a text that "
                "late misleads the customer: drop it")
    return None


BLOCKED = {
    "opt_out": "its recipient opted out (a TD reply, or asked in a conversation) of the texts Kefu sends on its own",
    "dnd": "its recipient is on the do-not-disturb list (kefu contacts dnd)",
}


def opted_out(repository: Repository, row: dict) -> str | None:
    """Why a row may not be sent again to its recipient, if they opted out of it (the worker's check,
    :func:`bot.notify.held_back`, asked first: a person's resend never gets past it)."""
    from bot.notify import FOR_CUSTOMER, opted_out_of

    reason = opted_out_of(repository, row["channel"], row["recipient"], row["kind"],
                          (row["payload"] or {}).get(FOR_CUSTOMER))
    return f"{BLOCKED.get(reason, reason)}, so it is not sent to them" if reason else None


def answered_by_a_person(repository: Repository, row: dict) -> str | None:
    """Why a voice message's self-help reply may not be sent again, if a person has the message now (the worker's
    check too, :func:`bot.outbound.voice_reply.with_a_person`)."""
    message = with_a_person(repository, row["payload"] or {})
    return why_not_sent(message) if message is not None else None


def resend(repository: Repository, message_id: int, now: dt.datetime | None = None) -> None:
    """Back to pending with its attempts reset: sent on the next pass. Not to a recipient who opted out of it, nor a
    self-help reply to a voice message a person has now."""
    now = now or dt.datetime.utcnow()
    row = change(repository, to_customers(), message_id, allowed=RESENDABLE, to="pending",
                 changes={"resent_at": now.isoformat()}, noun="message", why_not=WHY_NOT, verb="resent",
                 listed_by=LISTED_BY, refuse=lambda found: (too_late(found) or opted_out(repository, found)
                                                            or answered_by_a_person(repository, found)))
    logger.info("notify.outbox.resent id=%s channel=%s kind=%s was=%s", message_id, row["channel"], row["kind"],
                row["status"])


def drop(repository: Repository, message_id: int, now: dt.datetime | None = None) -> str | None:
    """Never send it. A voice message's self-help reply hands the message to a person in the same step
    (:func:`drop_reply`); what was done with the message, if it was one."""
    now = now or dt.datetime.utcnow()
    if voice_message_of(repository, message_id):
        return drop_reply(repository, message_id, now)
    row = change(repository, to_customers(), message_id, allowed=DROPPABLE, to="dropped",
                 changes={"dropped_at": now.isoformat()}, noun="message", why_not=WHY_NOT, verb="dropped",
                 listed_by=LISTED_BY)
    logger.warning("notify.outbox.dropped id=%s channel=%s kind=%s was=%s", message_id, row["channel"],
                   row["kind"], row["status"])
    return None


def voice_message_of(repository: Repository, message_id: int) -> str | None:
    """The voice message a row answers with self-help, if it does (it never changes once queued)."""
    from bot.notify import FOR_VOICE_MESSAGE

    with repository.engine.connect() as conn:
        payload = conn.execute(sa.select(outbox.c.payload).where(outbox.c.id == message_id, to_customers())).scalar()
    return (payload or {}).get(FOR_VOICE_MESSAGE)


def drop_reply(repository: Repository, message_id: int, now: dt.datetime) -> str:
    """Drop a voice message's self-help reply, the message handed to a person first (found in review: a dropped reply
    left it ``selfhelp_sent``, the caller never answered and nobody heard it): a person dropping the text means "do
    not send this", not "forget the caller". The row is claimed (``sending``) meanwhile, so no worker sends it, and
    noted ``GAVE_UP`` dropped: a command killed partway leaves it for the worker to hand on and drop, never to send.
    When the message cannot be handed on now (the database, or not routed yet) the row is put back as it was and
    refused, named among those left as they are."""
    import asyncio

    from bot.notify import FOR_VOICE_MESSAGE, NotifyError
    from voice.voicemail.withheld_reply import DROPPED, hand_on

    held = change(repository, to_customers(), message_id, allowed=DROPPABLE, to="sending",
                  changes={"claimed_at": stamp(now), GAVE_UP: "dropped"}, noun="message", why_not=WHY_NOT,
                  verb="dropped", listed_by=LISTED_BY)
    was = dict(held["payload"] or {})
    voice_message = was[FOR_VOICE_MESSAGE]
    try:
        ticket_id = asyncio.run(hand_on(repository, voice_message, DROPPED, was.get("entry_id")))
    except NotifyError as exc:
        move(repository, message_id, was="sending", status=held["status"], payload=was)
        raise OutboxRowError(f"message {message_id} cannot be dropped now: its voice message {voice_message} could not "
                             f"be handed to a person ({exc}); try again") from exc
    dropped = {key: value for key, value in was.items() if key != GAVE_UP}
    move(repository, message_id, was="sending", status="dropped", payload={**dropped, "dropped_at": stamp(now)})
    logger.warning("notify.outbox.dropped id=%s channel=%s kind=%s was=%s voice_message=%s ticket=%s", message_id,
                   held["channel"], held["kind"], held["status"], voice_message, ticket_id)
    if ticket_id is None:
        return f"its voice message {voice_message} is with a person already"
    return f"its voice message {voice_message} handed to a person, ticket {ticket_id}"


def each_failed(repository: Repository, step) -> Iterator[tuple[int | str, str | None]]:
    """``step(repository, id)`` for every given-up message, each in its own transaction: yields the id (with what
    ``step`` says it did besides, in brackets) and None once it is taken, or why it was left as it is (changed
    meanwhile, or it cannot be resent). One at a time, so a database failing partway still lets the caller say
    which ones were taken before."""
    for message in undelivered(repository, failed_only=True, limit=100_000):
        try:
            also = step(repository, message.id)
        except OutboxRowError as exc:
            yield message.id, str(exc)
            continue
        yield (f"{message.id} ({also})" if also else message.id), None


def reported_not_delivered(repository: Repository, ref: str, reason: str, now: dt.datetime | None = None) -> bool:
    """A message its channel took (``sent``) and later reported it could not deliver (WeChat's delivery report,
    ``reason``): given up for a person to resend or drop, the report as its last error (found in review: a
    ticket notice WeChat took and could not deliver stayed ``sent``, and ``kefu outbox`` never showed it); a voice
    message's self-help reply first waits for the worker to hand the message to a person (``given_up``).
    False: not an outbox message's ``client_ref``, or no longer ``sent`` (the report came twice)."""
    match = OUTBOX_REF.fullmatch(ref)
    if match is None:
        return False
    row_id = int(match.group(1))
    with repository.engine.connect() as conn:
        row = conn.execute(sa.select(outbox.c.channel, outbox.c.kind, outbox.c.payload).where(
            outbox.c.id == row_id, outbox.c.status == "sent", to_customers())).first()
    if row is None:
        return False
    status, payload = given_up({**(row.payload or {}), "last_error": f"sent, then reported not delivered: {reason}",
                                "given_up_at": stamp(now or dt.datetime.utcnow())}, "failed")
    if not move(repository, row_id, was="sent", status=status, payload=payload):
        return False
    logger.error("notify.outbox.given_up id=%s channel=%s kind=%s error=%s (kefu outbox resend|drop %s)", row_id,
                 row.channel, row.kind, payload["last_error"], row_id)
    return True
