"""A number keyed for the assistant is kept to the longest a caller may key (``MAX_KEYED_DIGITS``).

The real flow engine and the shipped main flow, with the assistant and the clock scripted
(``bot.ivr.flow_tests``), on a real Redis and database."""
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


async def test_keys_past_the_longest_number_are_not_kept(kefu_env, redis):  # noqa: F811
    # Found in review: every key at a bot node was appended to the call's state (saved to Redis at each
    # key) and sent to the assistant on '#': thousands of keys made a state and a turn without bound.
    from bot.ivr.engine import MAX_KEYED_DIGITS

    bot = ScriptedBot([["请输入您的手机号码，按井号结束。"]] * 4)
    at = dt.datetime.fromisoformat("2026-11-23T10:00:00+08:00")  # business hours: the main menu
    store = CallStore(redis)
    engine = FlowEngine(CallServices(
        registry=FlowRegistry(kefu_env.root / "ivr_flows", redis).load(), store=store,
        hotline=HotlineConfigSource(kefu_env.content_dir / "ivr.yml"),
        records=CallRecords(Repository(kefu_env.database_url)), handoff=ScriptedQueue(wait_s=60),
        notifier=CollectingNotifier(), bot=bot, clock=lambda: at))
    call_id = f"keyed-{uuid.uuid4().hex[:8]}"
    await engine.start(CallStart(call_id=call_id, caller="", flow="main", speech_recognised=True))
    try:
        await engine.handle(call_id, KeyPress("1"))  # 故障报修: the assistant
        assert (await store.load(call_id)).node == "fault_bot"
        for _ in range(500):
            await engine.handle(call_id, KeyPress("5"))
        assert len((await store.load(call_id)).digits) == MAX_KEYED_DIGITS
        await engine.handle(call_id, KeyPress("#"))
    finally:
        await engine.end(call_id, "test")
    assert bot.heard[-1] == "5" * MAX_KEYED_DIGITS
