"""What a phone call's packet tells the agent the caller keyed in (电话中输入): the caller's answers only.

The real flow engine and the shipped main flow, with the queue, the assistant and the clock scripted
(``bot.ivr.flow_tests``), on a real Redis and database.
"""
from __future__ import annotations

import datetime as dt
import uuid

from bot.db.repository import Repository
from bot.ivr.call_state import CallStore
from bot.ivr.config import HotlineConfigSource
from bot.ivr.engine import FlowEngine
from bot.ivr.events import CallStart, KeyPress
from bot.ivr.flow_tests import CollectingNotifier, ScriptedBot, ScriptedQueue
from bot.ivr.registry import FlowRegistry
from bot.ivr.services import CallRecords, CallServices
from tests.handoff.conftest import redis, redis_url  # noqa: F401  the same real Redis fixtures


class PacketQueue(ScriptedQueue):
    """Keeps what each transfer would put in the agent's packet."""

    def __init__(self, wait_s: float) -> None:
        super().__init__(wait_s)
        self.collected: list[dict] = []

    async def enqueue(self, *, conversation_id, skill, priority, customer_id, phone, collected):
        self.collected.append(collected)
        return await super().enqueue(conversation_id=conversation_id, skill=skill, priority=priority,
                                     customer_id=customer_id, phone=phone, collected=collected)


async def call_then_ask_for_an_agent(kefu_env, redis, keys: str) -> dict:  # noqa: F811
    queue = PacketQueue(wait_s=60)
    at = dt.datetime.fromisoformat("2026-11-23T10:00:00+08:00")  # the agents are in
    engine = FlowEngine(CallServices(
        registry=FlowRegistry(kefu_env.root / "ivr_flows", redis).load(), store=CallStore(redis),
        hotline=HotlineConfigSource(kefu_env.content_dir / "ivr.yml"),
        records=CallRecords(Repository(kefu_env.database_url)), handoff=queue, notifier=CollectingNotifier(),
        bot=ScriptedBot([["好的，请问还有什么可以帮您？"]] * 3), clock=lambda: at))
    call_id = f"collected-{uuid.uuid4().hex[:8]}"
    await engine.start(CallStart(call_id=call_id, caller="13900000000", flow="main", speech_recognised=True))
    try:
        for key in keys:
            await engine.handle(call_id, KeyPress(key))
    finally:
        await engine.end(call_id, "test")
    assert queue.collected, "the call never reached the queue"
    return queue.collected[-1]


async def test_the_flows_working_values_are_not_shown_as_what_the_caller_keyed(kefu_env, redis):  # noqa: F811
    """Found by a tester: the packet showed the flow's ``wait_minutes`` as 电话中输入, behind a reveal
    button like a phone number."""
    collected = await call_then_ask_for_an_agent(kefu_env, redis, "0")
    assert collected["flow"] == "main" and collected["path"][-1] == "transfer_general"
    assert collected["vars"] == {}


async def test_a_number_the_caller_keyed_reaches_the_agent(kefu_env, redis):  # noqa: F811
    collected = await call_then_ask_for_an_agent(kefu_env, redis, "28800000001#0")
    assert collected["vars"] == {"account": "8800000001"}
