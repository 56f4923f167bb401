"""Finished outbox rows are deleted ``KEFU_OUTBOX_EXPIRY_SECONDS`` (30 days) after they were queued.

The outbox kept every row for ever: texts with verification codes and the customer's number, WeChat
messages with the openid, and ticket events carrying the ticket as it stood (the customer's account
number, the summary and details). One setting for both, as both are rows of one table, deleted by one
``DELETE`` in the pass ``kefu run`` makes every 10 minutes (``bot/db/recordings.py``, ``tidy_forever``),
harmless when several instances run it.

Finished: ``sent``, ``dropped`` (by a person, or a message that lapsed), ``withheld`` (its recipient opted out
before it went), and a customer's message given up
(``failed``: the worker gave it up an hour after it was queued, and ``kefu outbox`` lists it until then).
Never a row ``pending`` or ``sending``, and never a ticket event given up: it holds its ticket's later
events until a person resends or drops it (``kefu dispatch``), and deleting it would let them go.
The age is by the database's clock against ``created_at`` (see ``waited_seconds``), so a message resent
by a person long after it was queued goes at the next pass once delivered.

The same pass deletes the receipts of retried writes (``write_receipts``, see ``_retry_transient`` in
bot/db/repository.py) after ``RECEIPT_EXPIRY_S``: a receipt is read only while its call retries (seconds).
"""
from __future__ import annotations

import sqlalchemy as sa

from bot.db.clock import now_sql
from bot.db.repository import Repository
from bot.db.schema import outbox, write_receipts

FINISHED = ("sent", "dropped", "withheld")
RECEIPT_EXPIRY_S = 3600  # far past any call's retries (WRITE_RETRY_S, plus each attempt's own time)


def finished():
    """The rows no worker and no person will send again."""
    from bot.dispatch.events import CHANNEL as TICKET_EVENTS

    return sa.or_(outbox.c.status.in_(FINISHED), sa.and_(outbox.c.status == "failed", outbox.c.channel != TICKET_EVENTS))


def prune(repository: Repository, expiry_s: int) -> int:
    """Delete the finished rows queued more than ``expiry_s`` ago (0: none); how many."""
    if expiry_s <= 0:
        return 0
    with repository.engine.begin() as conn:
        return conn.execute(outbox.delete().where(
            outbox.c.created_at < now_sql(repository.engine, expiry_s), finished())).rowcount


def prune_receipts(repository: Repository) -> int:
    """Delete the write receipts older than ``RECEIPT_EXPIRY_S``; how many."""
    with repository.engine.begin() as conn:
        return conn.execute(write_receipts.delete().where(
            write_receipts.c.at < now_sql(repository.engine, RECEIPT_EXPIRY_S))).rowcount
