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


async def test_after_the_hash_that_ends_a_full_number_the_next_keys_are_the_next_answer(kefu_env, redis):  # noqa: F811
    """Found on a live call: 13800000003# keyed for the bill, then the service password keyed as soon as the
    verification question began: its first keys, within ``limits.typed_ahead_key_seconds`` of the number,
    were dropped as the number's own # (4159 reached the assistant, which asked for the number again).
    The # ends the number: keys after it are the caller's next answer."""
    from bot.ivr.flow_tests import ScriptedBot
    from tests.ivr.test_waiting_room_buttons import engine_for

    verification = {"text": "为了保护您的账户信息，请用按键输入验证码，或输入您的6位服务密码。",
                    "response": "utter_verification_code_sent"}  # a number prompt: every key is the code's
    bot = ScriptedBot([[verification], ["王强，您当前账户余额 120.00 元。"]])
    engine = engine_for(kefu_env, redis, bot)
    call_id = f"keyed-{uuid.uuid4().hex[:8]}"
    await engine.start(CallStart(call_id=call_id, caller="", flow="main", speech_recognised=True))
    keyed_at = 1_800_000_000.0
    try:
        await engine.handle(call_id, KeyPress("2"))  # 查询话费: the account number is asked
        for n, digit in enumerate("13800000003#314159#"):
            await engine.handle(call_id, KeyPress(digit, at=keyed_at + 0.2 * n))  # all within a few seconds
    finally:
        await engine.end(call_id, "test")
    assert bot.heard == ["查一下13800000003的话费", "314159"], bot.heard
