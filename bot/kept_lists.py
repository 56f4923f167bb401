"""Where requests kept while the database was down wait in Redis (``actions/kept_requests.py`` keeps and
files them): the key names, the drain lock, and how old an entry is.

Shared by the action server that files them, the privacy commands that export and erase a customer's
(``bot/privacy/kept_requests.py``) and the metrics that show how many wait (``bot/observability/state.py``),
so none of them needs the action server's code.
"""
from __future__ import annotations

import hashlib

# A filing is a few database calls (each write retried for 8 s at most): a drainer that died holds the
# others up for this long; one that is merely slow can no longer take entries off the list after it.
LOCK_TTL_MS = 60_000


def kept_key(database_url: str) -> str:
    """One list per database: a request kept for one database is never filed in another."""
    return f"kefu:requests:kept:{hashlib.sha1(database_url.encode()).hexdigest()[:16]}"


def failed_key(database_url: str) -> str:
    """Entries set aside (filed nothing, or failed with a bug) for an operator to look at."""
    return f"{kept_key(database_url)}:failed"


def drain_lock_key(database_url: str) -> str:
    """Held by whoever may take entries off the lists: the drainer filing them, or an erasure."""
    return f"{kept_key(database_url)}:drain"


def kept_at(entry: dict) -> float | None:
    """When the request was kept (epoch seconds). Entries kept before ``kept_at`` was written carry the
    time of their conversation's last event instead, which is when they were kept; None if neither."""
    if entry.get("kept_at") is not None:
        return float(entry["kept_at"])
    tracker = entry.get("tracker") or {}
    if tracker.get("latest_event_time") is not None:
        return float(tracker["latest_event_time"])
    stamps = [e["timestamp"] for e in tracker.get("events") or [] if e.get("timestamp") is not None]
    return float(max(stamps)) if stamps else None


def expired(entry: dict, retention_s: int, now: float) -> bool:
    """Older than the conversations' retention (``KEFU_TRACKER_EXPIRY_SECONDS``; 0 keeps them for ever):
    the kept tracker is the conversation, and must not outlive it."""
    at = kept_at(entry)
    return retention_s > 0 and at is not None and now - at > retention_s
