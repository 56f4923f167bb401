"""A shortened retention setting reaches the conversations already stored (audit finding 10): when
Kefu starts, trackers and finished queue records that would outlive the new limit are cut to it."""
from __future__ import annotations

import redis as redis_sync

from bot import settings as settings_module
from bot.stack import apply_stored_retention
from tests.handoff.conftest import redis_url  # noqa: F401


def test_kefu_start_lowers_old_conversations_expiry_to_a_shortened_setting(kefu_env, redis_url, monkeypatch):  # noqa: F811
    client = redis_sync.Redis.from_url(redis_url)
    client.flushdb()
    month = 30 * 24 * 3600
    client.rpush("kefu:events:old-chat", "{}")
    client.expire("kefu:events:old-chat", month)  # stored under the 30-day default
    client.set("kefu:events:old-chat:session", 0, ex=month)
    client.rpush("kefu:events:no-expiry", "{}")  # stored while expiry was off
    client.rpush("kefu:events:nearly-gone", "{}")
    client.expire("kefu:events:nearly-gone", 20)
    client.hset("kefu:handoff:conv:closed", "state", "closed")
    client.expire("kefu:handoff:conv:closed", 7 * 24 * 3600)
    client.hset("kefu:handoff:conv:waiting", "state", "waiting")  # live: no expiry until it finishes

    monkeypatch.setenv("KEFU_TRACKER_EXPIRY_SECONDS", "60")
    monkeypatch.setenv("KEFU_QUEUE_RECORD_EXPIRY_SECONDS", "120")
    settings_module.get_settings.cache_clear()
    apply_stored_retention(settings_module.get_settings(), redis_url)

    assert 0 < client.ttl("kefu:events:old-chat") <= 60
    assert 0 < client.ttl("kefu:events:old-chat:session") <= 60
    assert 0 < client.ttl("kefu:events:no-expiry") <= 60
    assert 0 < client.ttl("kefu:events:nearly-gone") <= 20  # never raised
    assert 60 < client.ttl("kefu:handoff:conv:closed") <= 120
    assert client.ttl("kefu:handoff:conv:waiting") == -1
    client.flushdb()
    client.close()
