"""The one handler for failed turns: store errors and bugs become a kind answer, never silence."""
from __future__ import annotations

import types

import aiohttp
import pytest
import yaml
from rasa.core.actions.action import ActionExecutionRejection
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.shared.exceptions import RasaException
from redis.exceptions import ConnectionError as RedisConnectionError

from bot.observability import rasa_guards
from tests.conftest import PROJECT_ROOT

RESPONSES = yaml.safe_load((PROJECT_ROOT / "domain" / "operations.yml").read_text(encoding="utf-8"))["responses"]


def agent() -> types.SimpleNamespace:
    return types.SimpleNamespace(domain=types.SimpleNamespace(responses=RESPONSES))


async def turn_with(failure: Exception, channel: str = "rest") -> list[dict]:
    async def failing(self, message):
        raise failure

    output = CollectingOutputChannel()
    guarded = rasa_guards._guard_handle_message(failing)
    assert await guarded(agent(), UserMessage("你好", output, "u1", input_channel=channel)) is None
    return output.messages


async def test_redis_down_in_a_turn_answers_the_service_apology():
    messages = await turn_with(RedisConnectionError("Connection refused"))
    assert [m["text"] for m in messages] == [RESPONSES["utter_service_unavailable"][0]["text"]]


async def test_a_bug_in_a_turn_is_logged_with_its_traceback_and_answered(caplog):
    messages = await turn_with(ZeroDivisionError("bug"), channel="ivr")
    ivr_variant = next(v for v in RESPONSES["utter_technical_problem"] if v.get("channel") == "ivr")
    assert [m["text"] for m in messages] == [ivr_variant["text"]]
    failed = [r for r in caplog.records if r.getMessage() == "turn.failed"]
    assert failed and failed[0].exc_info and failed[0].exc_info[0] is ZeroDivisionError


def unreachable() -> RasaException:
    try:
        try:
            raise aiohttp.ClientConnectionError("refused")
        except aiohttp.ClientConnectionError:
            raise RasaException("Failed to execute custom action 'action_x'. Couldn't connect")
    except RasaException as exc:
        return exc


@pytest.mark.parametrize("error, down", [
    (unreachable(), True),
    (ActionExecutionRejection("action_x", "not now"), False),
    (RasaException("no endpoint is configured"), False),
])
def test_only_an_unreachable_action_server_is_answered_with_the_offer(error, down):
    assert rasa_guards.action_server_unreachable(error) is down
