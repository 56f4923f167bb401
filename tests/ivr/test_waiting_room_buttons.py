"""A waiting-room message read to a caller on hold reads its buttons as the rest of the phone does.

Found in review: the assistant's turns read an agent button with the phone's agent key (content/ivr.yml
``speech.agent_button``: 转人工请按0), but a message from the waiting room to a caller on hold still
numbered every button from 1, the agent button among them. The real flow engine and the shipped main
flow and hotline settings; the queue and the assistant scripted; real Redis and database.
"""
from __future__ import annotations

import datetime as dt
import uuid

import yaml

from bot.db.repository import Repository
from bot.ivr.call_state import CallStore
from bot.ivr.config import HotlineConfigSource
from bot.ivr.engine import FlowEngine
from bot.ivr.events import CallStart, KeyPress, LineMessage, NoInput, Say
from bot.ivr.flow_tests import CollectingNotifier, ScriptedBot, ScriptedQueue
from bot.ivr.registry import FlowRegistry
from bot.ivr.services import CallRecords, CallServices
from tests.conftest import PROJECT_ROOT
from tests.handoff.conftest import redis, redis_url  # noqa: F401  the same real Redis fixtures


def waiting_room_message(response: str) -> dict:
    """The shipped response as the waiting room sends it to a phone line (its phone variant if any)."""
    variants = yaml.safe_load((PROJECT_ROOT / "domain" / "handoff_lifecycle.yml").read_text(encoding="utf-8"))
    chosen = next((v for v in variants["responses"][response] if v.get("channel") == "ivr"),
                  variants["responses"][response][0])
    return {"text": chosen["text"], "buttons": chosen["buttons"], "utter_action": response}


def engine_for(kefu_env, redis, bot, queue: ScriptedQueue | None = None) -> FlowEngine:  # noqa: F811
    """The shipped main flow at 10:00 on a weekday, with the assistant and the queue scripted."""
    return FlowEngine(CallServices(
        registry=FlowRegistry(kefu_env.root / "ivr_flows", redis).load(), store=CallStore(redis),
        hotline=HotlineConfigSource(kefu_env.content_dir / "ivr.yml"),
        records=CallRecords(Repository(kefu_env.database_url)), handoff=queue or ScriptedQueue(wait_s=60),
        notifier=CollectingNotifier(), bot=bot,
        clock=lambda: dt.datetime.fromisoformat("2026-11-23T10:00:00+08:00")))


async def test_a_waiting_room_message_reads_its_agent_button_with_0_and_numbers_the_others_from_1(kefu_env, redis):  # noqa: F811
    bot = ScriptedBot([])
    engine = engine_for(kefu_env, redis, bot)
    call_id = f"waiting-{uuid.uuid4().hex[:8]}"
    await engine.start(CallStart(call_id=call_id, caller="", flow="main", speech_recognised=True))
    try:
        await engine.handle(call_id, KeyPress("0"))  # 人工服务: queued
        message = waiting_room_message("utter_queue_left_away")  # 重新排队 (/request_human), 预约回电
        said = " ".join(c.text for c in await engine.handle(call_id, LineMessage(message)) if isinstance(c, Say))
        await engine.handle(call_id, KeyPress("1"))
        await engine.handle(call_id, LineMessage(message))  # read again: its agent button on 0
        await engine.handle(call_id, KeyPress("0"))
    finally:
        await engine.end(call_id, "test")
    assert "重新排队请按0" in said and "预约回电请按1" in said and "请按2" not in said, said
    assert bot.heard == ["/leave_message", "/request_human"], bot.heard


def selfhelp_question() -> dict:
    """The waiting room's 问题解决了吗？ as the phone gets it (解决了请按1 没解决请按2)."""
    responses = yaml.safe_load((PROJECT_ROOT / "domain" / "responses.yml").read_text(encoding="utf-8"))["responses"]
    variant = next(v for v in responses["utter_ask_selfhelp_worked_handed_over"] if v.get("channel") == "ivr")
    return {"text": variant["text"], "buttons": variant["buttons"], "utter_action": "utter_ask_selfhelp_worked_handed_over"}


def said(commands: list) -> str:
    return " ".join(c.text for c in commands if isinstance(c, Say))


async def queued_with_the_question(engine: FlowEngine) -> str:
    call_id = f"waiting-{uuid.uuid4().hex[:8]}"
    await engine.start(CallStart(call_id=call_id, caller="", flow="main", speech_recognised=True))
    await engine.handle(call_id, KeyPress("0"))  # 人工服务: queued; 等待期间预约回电请按1，语音留言请按2，…请按3
    assert "解决了请按1" in said(await engine.handle(call_id, LineMessage(selfhelp_question())))
    return call_id


async def test_once_the_question_is_answered_1_on_hold_books_a_callback_again(kefu_env, redis):  # noqa: F811
    """Found on a live call: 没解决 pressed (2), then 1 for the callback the transfer prompt offered: the old
    question's 解决了 went to the waiting room instead, which said 收到，人工客服接入后会看到您的消息."""
    bot = ScriptedBot([])
    engine = engine_for(kefu_env, redis, bot)
    call_id = await queued_with_the_question(engine)
    try:
        await engine.handle(call_id, KeyPress("2"))  # 没解决
        not_worked = {"text": "抱歉没能解决。您仍在排队，人工客服接通后会知道您已经试过的方法。",
                      "utter_action": "utter_queue_selfhelp_not_worked"}
        await engine.handle(call_id, LineMessage(not_worked))
        callback = said(await engine.handle(call_id, KeyPress("1")))
    finally:
        await engine.end(call_id, "test")
    assert bot.heard == ["/deny"], bot.heard
    assert "回电号码" in callback, callback  # the callback node asks this caller (no caller ID) for a number


async def test_the_hold_reminder_waits_a_round_for_the_questions_answer(kefu_env, redis):  # noqa: F811
    """The reminder (预约回电请按1) is held back until the hold audio has had its gap, so the keys it names
    must not take over before it is heard: the first time the timer runs out with the question open, the
    question keeps its keys; the next time the reminder is read, and the keys are the hold keys."""
    bot = ScriptedBot([])
    engine = engine_for(kefu_env, redis, bot)
    call_id = await queued_with_the_question(engine)
    try:
        first = said(await engine.handle(call_id, NoInput()))
        await engine.handle(call_id, KeyPress("1"))  # 解决了, heard last
        await engine.handle(call_id, LineMessage(selfhelp_question()))  # asked again later
        await engine.handle(call_id, NoInput())
        reminder = said(await engine.handle(call_id, NoInput()))
        callback = said(await engine.handle(call_id, KeyPress("1")))
    finally:
        await engine.end(call_id, "test")
    assert first == "" and bot.heard == ["/affirm"], (first, bot.heard)
    assert "预约回电请按1" in reminder and "回电号码" in callback, (reminder, callback)
