"""The mark that a customer asked to stay in their conversation (``bot/session_keepalive.py``) is keyed by
the conversation id, which for WeChat is the follower's openid: the erasure must take it with the rest."""
from __future__ import annotations

from bot.session_keepalive import KEY
from tests.handoff.conftest import redis_url  # noqa: F401  the real Redis of the handoff tests
from tests.privacy.test_customer_requests import env, kefu  # noqa: F401  the seeded stores


def test_the_stay_mark_of_the_customers_conversation_is_erased(env):  # noqa: F811
    _settings, client, _seeded = env
    client.set(KEY + "oZhangWei01", "1700000000.0", ex=3600)
    client.set(KEY + "oLiNa02", "1700000000.0", ex=3600)
    assert kefu("customer", "erase", "13800000001", "--yes") == 0
    assert not client.exists(KEY + "oZhangWei01") and client.exists(KEY + "oLiNa02")
