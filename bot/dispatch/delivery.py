"""Deliver queued ticket events to the dispatch system: signed, at least once, in order per ticket.

The REST callback's adapter (``bot/outbound/rest_callback.py``) posts and signs them (HMAC-SHA256 of
``KEFU_DISPATCH_EVENTS_SECRET`` in ``X-Kefu-Signature``). A failed delivery is tried again, after 30 s,
1 min, 2 min, … up to every hour, for longer than a message to a customer (an hour, and never after a
refusal, ``bot/outbound/worker.py``): the dispatch system must not miss a repair. An event is given up (status ``failed``, ``dispatch.event.given_up``
in the log, ``kefu_ticket_events{state="failed"}``) only when retrying will not help: the receiver
refused it (4xx other than 408/429) ``REFUSALS_BEFORE_GIVING_UP`` times, or it has been failing for
``GIVE_UP_AFTER``. Its attempts, next time and last error are kept in the outbox row's payload
(``attempts``, ``retry_at``, ``last_error``, ``refusals``, ``failing_since``).

A later event of the same ticket waits until every earlier one is delivered or dropped, so a
receiver sees a ticket's events in order: a failed one holds its ticket's later events until an
operator resends or drops it (``kefu dispatch``, ``bot/dispatch/undelivered.py``). A worker killed
while sending leaves its row ``sending``; after ``STALE_SENDING`` (``bot/outbound/outbox_rows.py``) it
is handed out again. A receiver
may therefore get an event twice: ``event_id`` (also in the ``X-Kefu-Event-Id`` header) is the same on
every attempt, for it to recognise the repeat.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Callable

from bot.db.repository import Repository
from bot.db.schema import outbox
from bot.dispatch.events import CHANNEL
from bot.notify import NotifyError, Refused, Unreachable
from bot.outbound.outbox_rows import (claim, due, due_by, first_of, move, pending_pages, release_stale, retry_delay,
                                      stamp)
from bot.outbound.rest_callback import RestCallback

logger = logging.getLogger(__name__)

EVENT_ID_HEADER = "X-Kefu-Event-Id"
REFUSALS_BEFORE_GIVING_UP = 3          # 4xx answers (a bad URL or secret, an event it rejects)
GIVE_UP_AFTER = dt.timedelta(hours=24)  # of failing for any other reason (down, 5xx, 408, 429)
UNDELIVERED = ("pending", "sending", "failed")  # each holds its ticket's later events; sent and dropped do not
TICKET_EVENTS = outbox.c.channel == CHANNEL


def ticket_events_from_settings(settings) -> RestCallback | None:
    """The sender for ticket events, None when no receiver is configured (a URL without its secret:
    NotifyError, for `kefu run` to report)."""
    if not settings.dispatch_events_url:
        return None
    return RestCallback(settings.dispatch_events_url, settings.dispatch_events_secret, name="ticket event",
                        settings_named="KEFU_DISPATCH_EVENTS_URL and KEFU_DISPATCH_EVENTS_SECRET")


def first_undelivered(repository: Repository, tickets: list[str]) -> dict[str, int]:
    """Per ticket, the id of its oldest event not yet delivered or dropped: the only one that may go out."""
    return first_of(repository, TICKET_EVENTS, UNDELIVERED, tickets)


def refused(exc: Exception) -> bool:
    """The receiver answered that it will not take this event: trying it again will not help."""
    return isinstance(exc, Refused) and 400 <= exc.status < 500 and not exc.transient


def after_failure(payload: dict, exc: Exception, now: dt.datetime) -> tuple[dict, bool]:
    """The row's payload after a failed attempt, and whether the event is given up."""
    attempts = int(payload.get("attempts") or 0) + 1
    refusals = int(payload.get("refusals") or 0) + refused(exc)
    failing_since = payload.get("failing_since") or stamp(now)
    given_up = (refusals >= REFUSALS_BEFORE_GIVING_UP
                or now - dt.datetime.fromisoformat(failing_since) >= GIVE_UP_AFTER)
    again = {**payload, "attempts": attempts, "refusals": refusals, "failing_since": failing_since,
             "last_error": str(exc), "retry_at": None if given_up else stamp(now + retry_delay(attempts))}
    if given_up:
        again["given_up_at"] = stamp(now)
    return again, given_up


async def deliver_ticket_events(repository: Repository, sender: RestCallback, *, now: dt.datetime | None = None,
                                limit: int = 200) -> dict[str, int]:
    """One pass over the pending ticket events, oldest first; returns counts by result (``waiting``: due,
    but behind an earlier event of its ticket; events not due again are not read). ``now`` fixes the
    clock (tests); else each event is judged when it is sent. A receiver that does not answer at all ends
    the pass: every event goes to it, and each would wait out the timeout."""
    clock: Callable[[], dt.datetime] = (lambda: now) if now is not None else dt.datetime.utcnow
    counts = {"sent": 0, "retry": 0, "waiting": 0, "given_up": 0}
    for row in await asyncio.to_thread(release_stale, repository, TICKET_EVENTS, clock()):
        logger.warning("dispatch.event.released id=%s ticket=%s", row["id"], row["recipient"])
    # Events waiting for a later retry stay in the database, as the customers' worker leaves its texts
    # (bot/outbound/worker.py): a receiver's bad day must not make every pass read the whole backlog. An
    # event read behind one not read still waits: ``first_undelivered`` asks the table, not the page.
    async for page in pending_pages(repository, TICKET_EVENTS & due_by(clock())):
        first = await asyncio.to_thread(first_undelivered, repository, [row["recipient"] for row in page])
        for row in page:
            if counts["sent"] + counts["retry"] + counts["given_up"] >= limit:
                return counts  # the rest on the next pass
            if isinstance(await _deliver_one(repository, sender, row, first, clock(), counts), Unreachable):
                return counts
    return counts


async def _deliver_one(repository: Repository, sender: RestCallback, row: dict, first: dict[str, int],
                       now: dt.datetime, counts: dict[str, int]) -> NotifyError | None:
    """Claim, post and record one pending event if it is its ticket's first and due; ``counts`` gets its
    result, and a failure is returned."""
    ticket = row["recipient"]
    payload = dict(row["payload"] or {})
    if first.get(ticket) != row["id"] or not due(payload, now):
        counts["waiting"] += 1  # an earlier event of its ticket is not delivered yet, or not due again
        return None
    payload = await asyncio.to_thread(claim, repository, row["id"], now)
    if payload is None:
        return None  # another worker took it, or put it back to wait meanwhile
    event_id = f"outbox-{row['id']}"
    try:
        await sender.post({"event_id": event_id, **payload["event"]}, headers={EVENT_ID_HEADER: event_id})
    except NotifyError as exc:
        again, given_up = after_failure(payload, exc, now)
        status = "failed" if given_up else "pending"
        await asyncio.to_thread(move, repository, row["id"], was="sending", status=status, payload=again)
        if given_up:
            logger.error("dispatch.event.given_up id=%s ticket=%s type=%s attempts=%d error=%s "
                         "(its ticket's later events wait: kefu dispatch resend|drop %s)",
                         row["id"], ticket, row["kind"], again["attempts"], exc, row["id"])
            counts["given_up"] += 1
        else:
            logger.warning("dispatch.event.retry id=%s ticket=%s attempts=%d error=%s",
                           row["id"], ticket, again["attempts"], exc)
            counts["retry"] += 1
        return exc
    await asyncio.to_thread(move, repository, row["id"], was="sending", status="sent", payload=payload)
    logger.info("dispatch.event.sent id=%s ticket=%s type=%s", row["id"], ticket, row["kind"])
    counts["sent"] += 1
    fresh = await asyncio.to_thread(first_undelivered, repository, [ticket])
    first[ticket] = fresh.get(ticket)  # its next event may follow in this pass
    return None
