"""Deliver queued ticket events to the dispatch system: signed, at least once, in order per ticket.

The REST callback's adapter (``bot/outbound/rest_callback.py``) posts and signs them (HMAC-SHA256 of
``KEFU_DISPATCH_EVENTS_SECRET`` in ``X-Kefu-Signature``); what differs from the other outbox channels
is that a failed delivery is not left ``failed`` for a person but tried again, after 30 s, 1 min,
2 min, … up to every hour, for as long as it takes: the dispatch system must not miss a repair. Its
attempts and next time are kept in the outbox row's payload (``attempts``, ``retry_at``). A later
event of the same ticket waits until the earlier one is delivered, so a receiver sees a ticket's
events in order. A worker killed while sending leaves its row ``sending``; after ``STALE_SENDING``
it is handed out again. A receiver may therefore get an event twice: ``event_id`` (also in the
``X-Kefu-Event-Id`` header) is the same on every attempt, for it to recognise the repeat.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging

import sqlalchemy as sa

from bot.db.repository import Repository
from bot.db.schema import outbox
from bot.dispatch.events import CHANNEL
from bot.notify import NotifyError
from bot.outbound.rest_callback import RestCallback

logger = logging.getLogger(__name__)

EVENT_ID_HEADER = "X-Kefu-Event-Id"
FIRST_RETRY_S, LAST_RETRY_S = 30, 3600
STALE_SENDING = dt.timedelta(minutes=5)


def ticket_events_from_settings(settings) -> RestCallback | None:
    """The sender for ticket events, None when no receiver is configured (a URL without its secret:
    NotifyError, for `kefu run` to report)."""
    if not settings.dispatch_events_url:
        return None
    return RestCallback(settings.dispatch_events_url, settings.dispatch_events_secret, name="ticket event",
                        settings_named="KEFU_DISPATCH_EVENTS_URL and KEFU_DISPATCH_EVENTS_SECRET")


def retry_delay(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(FIRST_RETRY_S * 2 ** max(attempts - 1, 0), LAST_RETRY_S))


def _stamp(moment: dt.datetime) -> str:
    return moment.isoformat()


def _rows(repository: Repository, status: str, limit: int) -> list[dict]:
    query = (sa.select(outbox).where(outbox.c.channel == CHANNEL, outbox.c.status == status)
             .order_by(outbox.c.id).limit(limit))
    with repository.engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def _set(repository: Repository, row_id: int, *, was: str, status: str, payload: dict) -> bool:
    """Move a row from ``was`` to ``status`` with ``payload``; True for exactly one of racing workers."""
    with repository.engine.begin() as conn:
        return conn.execute(outbox.update().where(outbox.c.id == row_id, outbox.c.status == was)
                            .values(status=status, payload=payload)).rowcount == 1


def release_stale(repository: Repository, now: dt.datetime) -> int:
    """Hand out again the rows a worker claimed and never finished (killed while sending)."""
    released = 0
    for row in _rows(repository, "sending", 1000):
        payload = dict(row["payload"] or {})
        claimed = payload.get("claimed_at")
        if claimed and dt.datetime.fromisoformat(claimed) > now - STALE_SENDING:
            continue
        if _set(repository, row["id"], was="sending", status="pending", payload=payload):
            logger.warning("dispatch.event.released id=%s ticket=%s", row["id"], row["recipient"])
            released += 1
    return released


def _due(payload: dict, now: dt.datetime) -> bool:
    retry_at = payload.get("retry_at")
    return not retry_at or dt.datetime.fromisoformat(retry_at) <= now


async def deliver_ticket_events(repository: Repository, sender: RestCallback, *, now: dt.datetime | None = None,
                                limit: int = 200) -> dict[str, int]:
    """One pass over the pending ticket events, oldest first; returns counts by result."""
    now = now or dt.datetime.utcnow()
    counts = {"sent": 0, "retry": 0, "waiting": 0}
    await asyncio.to_thread(release_stale, repository, now)
    held: set[str] = set()  # tickets with an earlier event still undelivered: theirs wait, in order
    for row in await asyncio.to_thread(_rows, repository, "pending", limit):
        payload = dict(row["payload"] or {})
        if row["recipient"] in held or not _due(payload, now):
            held.add(row["recipient"])
            counts["waiting"] += 1
            continue
        claimed = {**payload, "claimed_at": _stamp(dt.datetime.utcnow())}
        if not await asyncio.to_thread(_set, repository, row["id"], was="pending", status="sending", payload=claimed):
            held.add(row["recipient"])  # another worker took it
            continue
        event_id = f"outbox-{row['id']}"
        try:
            await sender.post({"event_id": event_id, **payload["event"]}, headers={EVENT_ID_HEADER: event_id})
        except NotifyError as exc:
            attempts = int(payload.get("attempts") or 0) + 1
            again = {**payload, "attempts": attempts, "retry_at": _stamp(now + retry_delay(attempts))}
            await asyncio.to_thread(_set, repository, row["id"], was="sending", status="pending", payload=again)
            logger.warning("dispatch.event.retry id=%s ticket=%s attempts=%d error=%s",
                           row["id"], row["recipient"], attempts, exc)
            held.add(row["recipient"])
            counts["retry"] += 1
            continue
        await asyncio.to_thread(_set, repository, row["id"], was="sending", status="sent", payload=claimed)
        logger.info("dispatch.event.sent id=%s ticket=%s type=%s", row["id"], row["recipient"], row["kind"])
        counts["sent"] += 1
    return counts
