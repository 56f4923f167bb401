"""Row steps shared by the outbox's two deliveries: messages to customers (``bot/outbound/worker.py``)
and ticket events for the dispatch system (``bot/dispatch/delivery.py``).

A row moves ``pending`` → ``sending`` (claimed by one worker) → ``sent``, or back to ``pending`` with a
later ``retry_at`` after a failure worth retrying, or to ``failed`` (given up, for a person:
``kefu outbox``, ``kefu dispatch``), and from there back to ``pending`` or on to ``dropped`` by that
person; a message to a customer who opted out since it was queued goes to ``withheld`` instead of out.
Every move is a conditional UPDATE on the status it was read in, so of several workers (one per ``kefu
run`` machine) exactly one makes it. The attempts, next try and last error are kept in
the row's payload under the names of ``BOOKKEEPING``, which are never sent.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import AsyncIterator

import sqlalchemy as sa

from bot.db.repository import Repository
from bot.db.schema import NextTry, outbox

logger = logging.getLogger(__name__)

FIRST_RETRY_S, LAST_RETRY_S = 30, 3600
PAGE = 500  # pending rows read at a time
STALE_SENDING = dt.timedelta(minutes=5)  # a send takes 10 s at most (the adapters' timeout)
BOOKKEEPING = ("attempts", "refusals", "failing_since", "retry_at", "given_up_at", "claimed_at", "last_error",
               "resent_at", "dropped_at", "send_before", "queued_at", "for_customer", "withheld", "withheld_at",
               "voice_message_id", "gave_up")
RESET_ON_RESEND = ("attempts", "refusals", "failing_since", "retry_at", "given_up_at", "claimed_at", "withheld",
                   "withheld_at", "gave_up")
# A voice message's self-help reply given up (its status, failed or dropped, under this key) whose message is not handed
# to a person yet: it waits ``pending``, and the worker's next try hands the message on instead of sending it
# (bot/outbound/worker.py ``give_up``).
GAVE_UP = "gave_up"


class OutboxRowError(ValueError):
    """Not a row a person can resend or drop; the message says why."""


def waited_seconds(engine):
    """SQL for how long ago a row was queued, in seconds, by the database's own clock: ``created_at`` is
    its server default, naive UTC on SQLite and on PostgreSQL (Kefu sets every PostgreSQL session to UTC,
    ``bot/db/repository.py`` ``_postgres_session``; read back as ``timestamptz`` in the session's zone, so no
    zone offset ever shows as age)."""
    if engine.dialect.name == "postgresql":
        return sa.extract("epoch", sa.func.now() - sa.cast(outbox.c.created_at, sa.TIMESTAMP(timezone=True)))
    return (sa.func.julianday("now") - sa.func.julianday(outbox.c.created_at)) * 86400.0


def stamp(moment: dt.datetime) -> str:
    return moment.isoformat()


def retry_delay(attempts: int) -> dt.timedelta:
    """30 s after the first failure, doubling, at most an hour."""
    return dt.timedelta(seconds=min(FIRST_RETRY_S * 2 ** max(attempts - 1, 0), LAST_RETRY_S))


def due(payload: dict, now: dt.datetime) -> bool:
    retry_at = payload.get("retry_at")
    return not retry_at or dt.datetime.fromisoformat(retry_at) <= now


def rows(repository: Repository, where, status: str, limit: int, after: int = 0) -> list[dict]:
    """Oldest first: the rows in ``status`` among those ``where`` (a clause on the outbox) picks, after id
    ``after``, each with ``waited_s``: how long ago it was queued."""
    query = (sa.select(outbox, waited_seconds(repository.engine).label("waited_s"))
             .where(where, outbox.c.status == status, outbox.c.id > after).order_by(outbox.c.id).limit(limit))
    with repository.engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def due_by(moment: dt.datetime):
    """A clause for the rows with no ``retry_at`` or one at or before ``moment``: the stamps are ISO text
    from one format (``stamp``), so they compare as text, in SQL, on SQLite and PostgreSQL alike; none is
    ''. The index ``ix_outbox_due`` (bot/db/schema.py) holds the same expression, so rows waiting for a
    later try are not read."""
    return NextTry() <= stamp(moment)


async def pending_pages(repository: Repository, where, page: int = PAGE) -> AsyncIterator[list[dict]]:
    """Every pending row among ``where``, oldest first, a page at a time. All of them: rows waiting for a
    later retry (or behind a ticket's failed event) must not hide newer ones that could go now — with a
    fixed first 100, a gateway's bad minute held every newer text back until those retries came due.
    Give ``where`` a ``due_by`` clause to leave rows not due in the database (bench/outbox_pass.py)."""
    after = 0
    while found := await asyncio.to_thread(rows, repository, where, "pending", page, after):
        yield found
        after = found[-1]["id"]


def first_of(repository: Repository, where, statuses: tuple[str, ...], recipients: list[str]) -> dict[str, int]:
    """Per recipient, the id of its oldest row in ``statuses`` among ``where``: the only one that may go
    out where order matters (a ticket's events, a conversation's messages). A row leaves those statuses
    only once delivered, dropped or given up, so an answer read before a claim can only hold a row back
    for a pass, never let one overtake an earlier one that is still trying (a person's resend of a
    given-up message puts it behind those that went on without it)."""
    if not recipients:
        return {}
    query = (sa.select(outbox.c.recipient, sa.func.min(outbox.c.id))
             .where(where, outbox.c.status.in_(statuses), outbox.c.recipient.in_(sorted(set(recipients))))
             .group_by(outbox.c.recipient))
    with repository.engine.connect() as conn:
        return {recipient: first for recipient, first in conn.execute(query)}


def move(repository: Repository, row_id: int, *, was: str, status: str, payload: dict) -> bool:
    """Move a row from ``was`` to ``status`` with ``payload``; True for exactly one of racing workers."""
    with repository.engine.begin() as conn:
        return conn.execute(outbox.update().where(outbox.c.id == row_id, outbox.c.status == was)
                            .values(status=status, payload=payload)).rowcount == 1


def claim(repository: Repository, row_id: int, now: dt.datetime) -> dict | None:
    """The row's payload as claimed (``sending`` since ``now``), or None when another worker has it or it
    is not due yet.

    The status moves first and the payload is read after, in one transaction (the row is locked on
    PostgreSQL, the database on SQLite): a page read a while ago may be out of date, and deciding from
    it let a second machine send a message another had just put back to wait, and wipe its retry count."""
    with repository.engine.connect() as conn, conn.begin() as transaction:
        if conn.execute(outbox.update().where(outbox.c.id == row_id, outbox.c.status == "pending")
                        .values(status="sending")).rowcount != 1:
            return None
        payload = dict(conn.execute(sa.select(outbox.c.payload).where(outbox.c.id == row_id)).scalar_one() or {})
        if not due(payload, now):
            transaction.rollback()
            return None
        claimed = {**payload, "claimed_at": stamp(now)}
        conn.execute(outbox.update().where(outbox.c.id == row_id).values(payload=claimed))
        return claimed


def given_up(payload: dict, status: str) -> tuple[str, dict]:
    """The status and payload of a row given up (``failed``) where no worker holds it (a channel's report, a row an
    earlier version left): a voice message's self-help reply waits ``pending`` with :data:`GAVE_UP` noted, due now,
    for the worker to hand the message to a person first; any other row takes ``status``."""
    if payload.get("voice_message_id"):  # bot.notify.FOR_VOICE_MESSAGE
        return "pending", {**payload, GAVE_UP: status, "retry_at": None}
    return status, payload


def release_stale(repository: Repository, where, now: dt.datetime) -> list[dict]:
    """Hand out again the rows a worker claimed and never finished (killed while sending); the rows released.
    The receiver may get such a message twice; its ``client_ref``/``event_id`` is the same, to recognise
    the repeat. A row claimed by a version before this one has no ``claimed_at``, and may have waited
    months: it is ``failed`` instead, for a person to look at."""
    released = []
    for row in rows(repository, where, "sending", 1000):
        payload = dict(row["payload"] or {})
        claimed = payload.get("claimed_at")
        if claimed and dt.datetime.fromisoformat(claimed) > now - STALE_SENDING:
            continue
        if not claimed:
            status, given = given_up({**payload, "last_error": "left sending by an earlier Kefu version",
                                      "given_up_at": stamp(now)}, "failed")
            move(repository, row["id"], was="sending", status=status, payload=given)
            continue
        if move(repository, row["id"], was="sending", status="pending", payload=payload):
            released.append(row)
    return released


def change(repository: Repository, where, row_id: int, *, allowed: tuple[str, ...], to: str, changes: dict,
           noun: str, why_not: dict[str, str], verb: str, listed_by: str, refuse=None) -> dict:
    """A person's resend (``to="pending"``, the retry counts reset) or drop; the row as it was.

    OutboxRowError names why not: no such row among ``where``, its status is not ``allowed``
    (``why_not`` explains each status), ``refuse(row)`` gave a reason (the row has ``waited_s`` too:
    how long ago it was queued), or another worker or person changed it meanwhile."""
    with repository.engine.begin() as conn:
        row = conn.execute(sa.select(outbox, waited_seconds(repository.engine).label("waited_s"))
                           .where(outbox.c.id == row_id, where)).mappings().one_or_none()
        if row is None:
            raise OutboxRowError(f"no {noun} {row_id}")
        if row["status"] not in allowed:
            raise OutboxRowError(f"{noun} {row_id} is {row['status']}: {why_not.get(row['status'], '-')}, "
                                 f"so it cannot be {verb}")
        reason = refuse(dict(row)) if refuse is not None else None
        if reason:
            raise OutboxRowError(f"{noun} {row_id} cannot be {verb}: {reason}")
        payload = {k: v for k, v in dict(row["payload"] or {}).items()
                   if not (to == "pending" and k in RESET_ON_RESEND)}
        payload.update(changes)
        moved = conn.execute(outbox.update().where(outbox.c.id == row_id, outbox.c.status == row["status"])
                             .values(status=to, payload=payload)).rowcount
        if moved != 1:
            raise OutboxRowError(f"{noun} {row_id} changed meanwhile: look again ({listed_by})")
        return dict(row)


def row_number(text: str, noun: str, listed_by: str) -> int:
    """``42`` or ``outbox-42`` (the reference the receiver saw)."""
    try:
        return int(text.strip().removeprefix("outbox-"))
    except ValueError:
        raise OutboxRowError(f"{text!r} is not a {noun} id (a number from `{listed_by}`)") from None
