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

