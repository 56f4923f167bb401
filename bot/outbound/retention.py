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
A once-key's receipt (``once_receipt``: a lost call's SMS, a ticket note owed) is kept far longer, see
``ONCE_RECEIPT_EXPIRY_S``.
"""
from __future__ import annotations

import sqlalchemy as sa

from bot.db.clock import now_sql
from bot.db.repository import ONCE_RECEIPT_PREFIX, Repository
from bot.db.schema import outbox, write_receipts

FINISHED = ("sent", "dropped", "withheld")
RECEIPT_EXPIRY_S = 3600  # far past any call's retries (WRITE_RETRY_S, plus each attempt's own time)

# A once-key's receipt says its write was done for as long as something may try that write again, which is not one
# call's seconds: a lost call's SMS (bot.handoff.lost_calls) is tried again by the agent's close pressed again and
# the waiting room's finish while its queue record owes it (KEFU_QUEUE_RECORD_EXPIRY_SECONDS, 7 days), and a ticket
# note owed (bot.handoff.notes_owed) while it stays in Redis's owed set, which has no expiry: written, then Redis
# not answering as it is crossed off, it is tried again whenever Redis and the waiting room are back (its Redis
# once-key lasts NOTED_KEPT_S, 7 days). Found in review: deleted after RECEIPT_EXPIRY_S with the rest, a Redis
# outage of over an hour had the note written twice, the SMS queued twice. 30 days covers those windows and an
# outage of weeks; the rows are few (one a lost call's SMS, one a callback transferred or put back) and hold no
# customer data (a hash of the key).
ONCE_RECEIPT_EXPIRY_S = 30 * 24 * 3600


def once_receipt_expiry_s(settings) -> int:
    """How long a once-key's receipt is kept: ``ONCE_RECEIPT_EXPIRY_S``, or the queue records' life if configured
    longer (a lost call's SMS is owed as long as its record)."""
    return max(ONCE_RECEIPT_EXPIRY_S, settings.queue_record_expiry_s)


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


def prune_receipts(repository: Repository, once_expiry_s: int = ONCE_RECEIPT_EXPIRY_S) -> int:
    """Delete the write receipts older than ``RECEIPT_EXPIRY_S``, a once-key's older than ``once_expiry_s``; how
    many."""
    engine = repository.engine
    once = write_receipts.c.id.like(f"{ONCE_RECEIPT_PREFIX}%")
    with engine.begin() as conn:
        return conn.execute(write_receipts.delete().where(
            write_receipts.c.at < now_sql(engine, RECEIPT_EXPIRY_S),
            sa.or_(~once, write_receipts.c.at < now_sql(engine, max(once_expiry_s, RECEIPT_EXPIRY_S))))).rowcount
