"""A web chat message set aside unanswered holds the customer's words "for as long as conversations
are" (``KEFU_TRACKER_EXPIRY_SECONDS``). Shortened, that setting cut the stored trackers at start but
not the set-aside messages: they stayed for the old period (30 days) after the policy said 7."""
from __future__ import annotations

import redis as redis_sync

from bot import settings as settings_module
from bot.stack import apply_stored_retention
from tests.handoff.conftest import redis_url  # noqa: F401
from tests.privacy.test_customer_requests import set_aside


def test_kefu_start_cuts_set_aside_messages_to_a_shortened_conversation_expiry(kefu_env, redis_url, monkeypatch):  # noqa: F811
    client = redis_sync.Redis.from_url(redis_url)
    client.flushdb()
    entry = set_aside(redis_url, "w9", "我住光明大道88号，宽带断了")  # kept for the 30-day default
    index = "kefu:webchat:inflight:failed_of:w9"
    assert client.ttl(entry) > 29 * 24 * 3600 and client.ttl(index) > 29 * 24 * 3600

    monkeypatch.setenv("KEFU_TRACKER_EXPIRY_SECONDS", "60")
    settings_module.get_settings.cache_clear()
    apply_stored_retention(settings_module.get_settings(), redis_url)

    assert 0 < client.ttl(entry) <= 60
    assert 0 < client.ttl(index) <= 60
    client.flushdb()
    client.close()
