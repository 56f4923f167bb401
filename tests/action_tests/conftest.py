"""Run actions on JSON tracker fixtures, the way rasa-sdk's own tests do."""
from __future__ import annotations

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.chain import find_action
from tests.action_tests.trackers import Turn


@pytest.fixture
def run_action(kefu_env):
    async def run(name: str, tracker) -> Turn:
        dispatcher = CollectingDispatcher()
        events = await find_action(name).run(dispatcher, tracker, {})
        return Turn(dispatcher.messages, events)

    return run



from tests.handoff.conftest import redis, redis_url  # noqa: E402,F401 - a real Redis for one-time codes


@pytest.fixture
def with_redis(kefu_env, redis_url, redis, monkeypatch):
    """Actions that keep one-time codes need Redis: the test's own, on a spare db."""
    from bot import settings as settings_module

    monkeypatch.setenv("REDIS_URL", redis_url)
    settings_module.get_settings.cache_clear()
    yield redis
    settings_module.get_settings.cache_clear()
