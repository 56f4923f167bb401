"""What a caller hears as they join the queue names every key that works while they wait, and each does what it says.

Found in review: main.yml's transfer_general and wait_without_estimate said 预约回电请按1，语音留言请按2 only, while 3
(the self-help guide by SMS, which the hold reminder names) works on hold too. The real flow engine, the shipped main
flow and hotline, the real queue on Redis and the database.
"""
from __future__ import annotations

import re
import uuid

import pytest

from bot.db.repository import Repository
from bot.ivr.events import CallStart, KeyPress
from bot.ivr.flow_tests import CollectingNotifier
from bot.ivr.handoff import QueueHandoff
from tests.handoff.conftest import redis, redis_url  # noqa: F401  the same real Redis fixtures
from tests.ivr.test_long_wait_on_hold import agent_on_a_call, calls_take, engine_for, spoken
from tests.ivr.test_selfhelp_tried_by_phone import CUSTOMER_PHONE


@pytest.mark.parametrize("agents, keys_to_the_queue, joined", [
    ("busy", "0", "transfer_general"),  # 人工服务: an agent is signed in, on another call
    ("none", "00", "wait_without_estimate"),  # nobody online: nobody_offer, then 0 继续等待
])
async def test_the_keys_named_as_the_caller_joins_the_queue_are_the_hold_keys(kefu_env, redis, agents,  # noqa: F811
                                                                             keys_to_the_queue, joined):
    handoff, notifier = QueueHandoff(redis, Repository(kefu_env.database_url)), CollectingNotifier()
    if agents == "busy":
        await agent_on_a_call(handoff.queue)
    await calls_take(redis, 60)
    engine = engine_for(kefu_env, redis, handoff, notifier)
    call_id = f"told-{uuid.uuid4().hex[:8]}"
    await engine.start(CallStart(call_id=call_id, caller=CUSTOMER_PHONE, caller_verified=True, flow="main",
                                 speech_recognised=True))
    try:
        heard = []
        for digit in keys_to_the_queue:
            heard = spoken(await engine.handle(call_id, KeyPress(digit)))
        told = " ".join(text for label, text in heard if label == joined)
        queued = await handoff.queue.position(f"ivr:{call_id}")
        texted = spoken(await engine.handle(call_id, KeyPress("3")))
    finally:
        await engine.end(call_id, "test")
    assert queued is not None, heard
    assert sorted(re.findall(r"按([0-9])", told)) == ["1", "2", "3"], told
    assert "短信获取自助服务指引请按3" in told, told
    assert notifier.sent == ["sms"] and any("自助服务指引已经发送到您的手机" in text for _, text in texted), texted
