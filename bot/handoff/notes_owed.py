"""Ticket notes the database did not take: owed in Redis and written later, never lost.

Found in review: the note a booked callback's transfer writes on its ticket (``bot.handoff.callback_transferred``)
was dropped when the database did not answer on every try of it (the desk's, its retry's, the waiting room's
finish of a transfer cut off): the transfer done and crossed off, nothing tried it again.

A note goes in the owed set, in the script that takes its once-key, *before* the database is asked, and leaves it
once written (or once its ticket cannot take it): a process stopped in between leaves it owed, not lost, and a
second try of the same note (its once-key taken) adds nothing. A note written whose crossing off failed (Redis
not answering the ZREM) is tried again, and finds its once-key's receipt in the database (``write_receipts``, in the
note's own transaction): written once. The waiting room writes the notes owed for
``NOTE_GRACE_S`` (:func:`write_owed`, in a task of its own: a database not answering keeps each try
``WRITE_RETRY_S``, which must not hold up the customers' waiting room), each taken for another ``NOTE_GRACE_S``
before it is tried, so no other try writes it meanwhile.
"""
from __future__ import annotations

import asyncio
import json
import logging

from bot.db.repository import DatabaseError, TicketTransitionError
from bot.handoff import keys
from bot.handoff.handback import HANDBACK_GRACE_S
from bot.redis_text import as_text

logger = logging.getLogger(__name__)

# Longer than a try of the note takes (the database's write retries, bot.db.repository.WRITE_RETRY_S).
NOTE_GRACE_S = HANDBACK_GRACE_S

# KEYS: the note's once-key, the owed set; ARGV: the once-key's life (s), now, the owed note.
_OWE_ONCE = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
return 1
"""

# KEYS: the owed set; ARGV: the owed note, due before this, now. 1 when it was due and is taken now.
_TAKE = """
local tried = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not tried or tonumber(tried) > tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
return 1
"""


async def note_once(queue, once_key: str, kept_s: int, ticket_id: str, note: str) -> None:
    """``note`` on ticket ``ticket_id``, once under ``once_key`` (kept ``kept_s``); owed until the database takes
    it. Nothing when written, or owed, already."""
    owed = json.dumps({"ticket_id": ticket_id, "note": note, "once": once_key}, ensure_ascii=False, sort_keys=True)
    if await queue.redis.eval(_OWE_ONCE, 2, once_key, keys.ticket_notes_owed(), kept_s, repr(queue.clock()), owed):
        await _write(queue, owed)


async def write_owed(queue) -> int:
    """Every note owed for ``NOTE_GRACE_S``, written; stops at the first the database does not take (tried again
    ``NOTE_GRACE_S`` later). How many were written."""
    now = queue.clock()
    written = 0
    for owed in await queue.redis.zrangebyscore(keys.ticket_notes_owed(), "-inf", repr(now - NOTE_GRACE_S)):
        owed = as_text(owed)
        if not await queue.redis.eval(_TAKE, 1, keys.ticket_notes_owed(), owed, repr(now - NOTE_GRACE_S), repr(now)):
            continue  # taken by another try meanwhile
        if not await _write(queue, owed):
            break
        written += 1
    return written


async def _write(queue, owed: str) -> bool:
    """The owed note written, and no longer owed; False when the database did not answer (still owed)."""
    from bot.handoff.tickets import repository

    note = json.loads(owed)
    try:
        # Under its once-key in the database too: a write not crossed off (Redis failing at the ZREM, the process
        # stopped) is tried again, and that try must add nothing (found in review: the note written twice).
        await asyncio.to_thread(repository().note_ticket, note["ticket_id"], note["note"], once=note["once"])
    except TicketTransitionError as exc:  # the ticket takes no note: nothing to owe
        logger.warning("handoff.ticket_note.refused ticket=%s error=%s", note["ticket_id"], exc)
    except DatabaseError as exc:
        logger.warning("handoff.ticket_note.owed ticket=%s error=%s", note["ticket_id"], exc)
        return False
    await queue.redis.zrem(keys.ticket_notes_owed(), owed)
    return True
