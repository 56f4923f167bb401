"""A caller is told a text was sent only when one was.

Found in review: a ``notify`` node without ``ask_number`` sent nothing to a caller whose number nobody vouched
for (anyone can open the media stream: the softphone, or any stream choosing the flow), said so
(``prompts.unverified_not_sent``), and then went on to its ``next`` — which may say 短信已发送 — even when the
node had an ``on_failure`` for "not sent". A callback node goes to its ``on_failure`` there
(tests/ivr/test_callback_not_claimed.py); a notify node now does the same. Real Redis and SQLite, the real engine.
"""
from __future__ import annotations

import uuid

import pytest

from bot.db.repository import Repository
from bot.ivr.call_state import CallStore
from bot.ivr.config import HotlineConfigSource
from bot.ivr.engine import FlowEngine
from bot.ivr.events import CallStart, Say
from bot.ivr.flow_tests import CollectingNotifier, ScriptedBot, ScriptedQueue
from bot.ivr.registry import FlowRegistry
from bot.ivr.services import CallRecords, CallServices
from tests.handoff.conftest import redis, redis_url  # noqa: F401

SENT = "指引已经通过短信发送到您的手机。"
NOT_SENT = "抱歉，短信没有发出，请在微信公众号里查看指引。"
FLOW = f"""
flow: t_text
start: send_guide
nodes:
  send_guide:
    type: notify
    channel: sms
    text: 自助指引：https://kefu.example.cn/help
    next: guide_sent
    on_failure: guide_not_sent
  guide_sent:
    type: hangup
    say: {SENT}
  guide_not_sent:
    type: hangup
    say: {NOT_SENT}
"""


async def heard_and_texted(kefu_env, tmp_path, redis, *, vouched: bool):  # noqa: F811
    """What a caller to a flow whose notify node has no ``ask_number`` hears, and the texts sent."""
    (tmp_path / "t_text.yml").write_text(FLOW, encoding="utf-8")
    notifier = CollectingNotifier()
    engine = FlowEngine(CallServices(
        registry=FlowRegistry(tmp_path, redis).load(), store=CallStore(redis),
        hotline=HotlineConfigSource(kefu_env.content_dir / "ivr.yml"),
        records=CallRecords(Repository(kefu_env.database_url)), handoff=ScriptedQueue(wait_s=60), notifier=notifier,
        bot=ScriptedBot([])))
    call_id = f"text-{uuid.uuid4().hex[:8]}"
    commands = await engine.start(CallStart(call_id=call_id, caller="13800000001", flow="t_text",
                                            caller_verified=vouched, vouched=vouched))
    await engine.end(call_id, "test")
    return [c.text for c in commands if isinstance(c, Say)], notifier.sent


async def test_a_caller_nobody_vouched_for_is_not_told_a_text_was_sent(kefu_env, tmp_path, redis):  # noqa: F811
    heard, texted = await heard_and_texted(kefu_env, tmp_path, redis, vouched=False)
    assert texted == []
    assert any("短信无法发送" in text for text in heard), heard  # content/ivr.yml unverified_not_sent
    assert SENT not in heard, heard
    assert heard[-1] == NOT_SENT, heard


async def test_a_vouched_caller_is_texted_and_told_so(kefu_env, tmp_path, redis):  # noqa: F811
    heard, texted = await heard_and_texted(kefu_env, tmp_path, redis, vouched=True)
    assert len(texted) == 1
    assert heard[-1] == SENT, heard
