"""What a caller does on the keypad of the main flow, through the real flow engine with the assistant,
the queue and the clock scripted (``bot.ivr.flow_tests``), on a real Redis and database: found by calling
the live hotline."""
from __future__ import annotations

import datetime as dt
import uuid

import pytest

from bot.db.repository import Repository
from bot.ivr.call_state import CallStore
from bot.ivr.config import HotlineConfigSource
from bot.ivr.engine import FlowEngine
from bot.ivr.events import CallStart, KeyPress, Recording, Utterance
from bot.ivr.flow_tests import CollectingNotifier, ScriptedBot, ScriptedQueue
from bot.ivr.registry import FlowRegistry
from bot.ivr.services import CallRecords, CallServices
from tests.handoff.conftest import redis, redis_url  # noqa: F401  the same real Redis fixtures


@pytest.fixture
def main_flow(kefu_env, redis):  # noqa: F811
    """(engine, call id, voice messages handed on) of a call in business hours on the shipped main flow."""
    messages: list[bytes] = []

    async def voicemail(pcm: bytes, sample_rate: int, caller: str, call_id: str) -> None:
        messages.append(pcm)

    at = dt.datetime.fromisoformat("2026-11-23T10:00:00+08:00")
    engine = FlowEngine(CallServices(
        registry=FlowRegistry(kefu_env.root / "ivr_flows", redis).load(), store=CallStore(redis),
        hotline=HotlineConfigSource(kefu_env.content_dir / "ivr.yml"),
        records=CallRecords(Repository(kefu_env.database_url)), handoff=ScriptedQueue(wait_s=60),
        notifier=CollectingNotifier(), bot=ScriptedBot([["张伟，您当前账户余额 23.50 元。"]]), voicemail=voicemail,
        clock=lambda: at))
    return engine, f"keypad-{uuid.uuid4().hex[:8]}", messages


async def test_a_caller_who_hangs_up_at_the_confirmation_keeps_the_message(main_flow):
    # The record node says 说完请按井号键; after # it asks 确认留言请按1. A caller who took # for the end
    # and hung up lost the message (it was kept only when the confirmation timed out).
    engine, call_id, messages = main_flow
    await engine.start(CallStart(call_id=call_id, caller="", flow="main", speech_recognised=True))
    await engine.handle(call_id, KeyPress("4"))  # 语音留言
    message = b"\x10\x02" * 8000 * 3
    await engine.handle(call_id, Recording(message, 8000, "key"))
    await engine.end(call_id, "caller")
    await engine.drain()
    assert messages == [message]


@pytest.mark.parametrize("keys", [("2", "*"), ("1", "#"), ("4", "rec", "5")],
                         ids=["star_at_the_account_number", "hash_with_nothing_keyed_at_the_assistant",
                              "five_at_the_message_confirmation"])
async def test_a_key_that_does_nothing_leaves_the_question_to_come_again(main_flow, keys):
    # The line stops the node's timer at every key; a key the node ignored returned nothing, so no timer
    # ran again and the caller heard silence for the rest of the call (live: * at 请输入您登记的11位手机号码,
    # # after a number the assistant asked for, a stray key at 确认留言请按1).
    from bot.ivr.events import Listen

    engine, call_id, _ = main_flow
    await engine.start(CallStart(call_id=call_id, caller="", flow="main", speech_recognised=True))
    *before, key = keys
    for pressed in before:
        if pressed == "rec":
            await engine.handle(call_id, Recording(b"\x10\x02" * 8000 * 3, 8000, "key"))
        else:
            await engine.handle(call_id, KeyPress(pressed))
    commands = await engine.handle(call_id, KeyPress(key))
    assert any(isinstance(c, Listen) and c.timeout_s > 0 for c in commands), commands
    await engine.end(call_id, "test")


async def test_the_hash_after_a_full_number_cuts_nothing_that_follows(main_flow):
    # 请输入您登记的11位手机号码……以井号键结束: the number was taken at its 11th digit, and the # the caller
    # pressed as told cut the next prompt (live: the verification question, 0.2 s in) and was a key there.
    from bot.ivr.events import Say

    engine, call_id, _ = main_flow
    await engine.start(CallStart(call_id=call_id, caller="", flow="main", speech_recognised=True))
    await engine.handle(call_id, KeyPress("2", at=1000.0))  # 查询话费: the account number first
    for index, digit in enumerate("1380000000"):
        await engine.handle(call_id, KeyPress(digit, at=1001.0 + index * 0.3))
    answer = await engine.handle(call_id, KeyPress("1", at=1004.0))
    said = [c for c in answer if isinstance(c, Say)]
    assert said and not any(c.barge_in for c in said), said
    after_hash = await engine.handle(call_id, KeyPress("#", at=1004.3))
    assert not [c for c in after_hash if isinstance(c, Say)], after_hash
    await engine.end(call_id, "test")


class SelfHelpBot(ScriptedBot):
    """The assistant's self-help answer as Rasa gives it: the steps, the video, then the question."""

    async def turn(self, sender: str, text: str, metadata: dict) -> list[dict]:
        self.heard.append(text)
        return [{"text": "请把光猫和路由器都断电一分钟，然后再试试上网。"},
                {"attachment": {"type": "video", "payload": {"src": "https://kefu.example.cn/media/restart.mp4",
                                                             "title": "重启光猫"}}},
                {"text": "操作完成后，问题解决了吗？", "buttons": [{"title": "解决了", "payload": "/affirm"},
                                                            {"title": "没解决", "payload": "/deny"}]}]


async def test_the_question_is_the_last_thing_the_caller_hears(main_flow):
    # Live: 操作完成后，问题解决了吗？解决了请按1… and then 相关的视频和图文指引已经通过短信发送到您的手机, after
    # which the caller was to answer a question heard before it.
    from bot.ivr.events import Say

    engine, call_id, _ = main_flow
    engine.services.bot = SelfHelpBot([])
    await engine.start(CallStart(call_id=call_id, caller="13800000001", flow="main", caller_verified=True,
                                 speech_recognised=True))
    await engine.handle(call_id, KeyPress("1"))  # 故障报修
    said = [c.text for c in await engine.handle(call_id, Utterance("宽带上不了网", 0.9, 1.0)) if isinstance(c, Say)]
    await engine.end(call_id, "test")
    assert "问题解决了吗" in said[-1], said
    assert any("短信" in text for text in said[:-1]), said
