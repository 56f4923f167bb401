"""A web-chat customer who asks to stay keeps their conversation's session past the idle expiry.

Rasa starts a new session (slots, verification and a half-filled form gone) when a message comes
more than ``session_expiration_time`` minutes (``domain/core.yml``) after the customer's last one.
The chat page warns before that and offers a button to stay (an accessibility audit: a customer who reads
slowly or uses a screen reader lost their place without a word). Pressing it must not be a turn
(a message would answer a form's question), so the channel records the moment in Redis
(:func:`keep`) and the Rasa server counts the idle time from it (:func:`install`): a conversation
kept after its last message is not expired until ``session_expiration_time`` after the keep.
"""
from __future__ import annotations

import time
from typing import Any, Optional

KEY = "kefu:session:kept:"


async def keep(redis, conversation_id: str, idle_s: float, now: Optional[float] = None) -> float:
    """Record that the customer asked to stay; the mark lasts as long as it can matter."""
    at = time.time() if now is None else now
    await redis.set(KEY + conversation_id, repr(at), ex=max(1, int(idle_s) + 60))
    return at


async def kept_at(redis, conversation_id: str) -> Optional[float]:
    """When the customer last asked to stay; None if never (or Redis cannot say: the turn goes on as Rasa's)."""
    from redis.exceptions import RedisError

    try:
        raw = await redis.get(KEY + conversation_id)
    except RedisError:
        return None
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None


def idle_seconds(domain) -> float:
    """The session's idle expiry in seconds; 0 when sessions never expire."""
    config = getattr(domain, "session_config", None)
    if config is None or not config.are_sessions_enabled():
        return 0.0
    return float(config.session_expiration_time) * 60


def idle_past(tracker, idle_s: float, now: float) -> bool:
    """Whether the customer's last message is older than the idle expiry (only then can a keep matter)."""
    from rasa.shared.core.events import UserUttered

    last = tracker.get_last_event_for(UserUttered)
    return last is not None and now - last.timestamp > idle_s


def still_kept(kept: Optional[float], tracker, idle_s: float, now: float) -> bool:
    """True when a keep after the customer's last message is within the idle expiry."""
    from rasa.shared.core.events import UserUttered

    last = tracker.get_last_event_for(UserUttered)
    return bool(kept and idle_s and last is not None and kept > last.timestamp and now - kept <= idle_s)


def store_redis(tracker_store):
    """The Redis client of Kefu's tracker store behind Rasa's wrappers (``AwaitableTrackerStore``,
    ``FailSafeTrackerStore``), or None for any other store (keeps are then not looked up)."""
    seen = 0
    while tracker_store is not None and seen < 4:
        redis = getattr(tracker_store, "redis", None)
        if redis is not None and hasattr(redis, "get"):
            return redis
        tracker_store = getattr(tracker_store, "_tracker_store", None)
        seen += 1
    return None


def install() -> None:
    """Make Rasa's ``MessageProcessor`` honour keeps (once per process). Each processor reads them
    through its own tracker store's client: a client captured at install time belonged to the first
    store's event loop, and a later processor on another loop (a test's, a hot swap's) failed its
    turn on it (CI: "the handler is closed")."""
    from rasa.core.processor import MessageProcessor

    original = getattr(MessageProcessor._update_tracker_session, "kefu_original", None) or \
        MessageProcessor._update_tracker_session

    async def _update_tracker_session(self: MessageProcessor, tracker, output_channel: Any, metadata=None) -> None:
        idle_s = idle_seconds(self.domain)
        redis = store_redis(getattr(self, "tracker_store", None))
        now = time.time()
        # Redis is asked only when the idle expiry has passed (Rasa's own test): not on every turn.
        if idle_s and redis is not None and tracker.applied_events() and idle_past(tracker, idle_s, now):
            if still_kept(await kept_at(redis, tracker.sender_id), tracker, idle_s, now):
                return  # the customer asked to stay: the session goes on
        await original(self, tracker, output_channel, metadata)

    _update_tracker_session.kefu_original = original
    MessageProcessor._update_tracker_session = _update_tracker_session
