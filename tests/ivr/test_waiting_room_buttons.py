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
from bot.ivr.events import CallStart, KeyPress, LineMessage, Say
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


def engine_for(kefu_env, redis, bot) -> FlowEngine:  # noqa: F811
    return FlowEngine(CallServices(
        registry=FlowRegistry(kefu_env.root / "ivr_flows", redis).load(), store=CallStore(redis),
        hotline=HotlineConfigSource(kefu_env.content_dir / "ivr.yml"),
        records=CallRecords(Repository(kefu_env.database_url)), handoff=ScriptedQueue(wait_s=60),
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
        await engine.handle(call_id, KeyPress("0"))
    finally:
        await engine.end(call_id, "test")
    assert "重新排队请按0" in said and "预约回电请按1" in said and "请按2" not in said, said
    assert bot.heard == ["/leave_message", "/request_human"], bot.heard
