"""A caller whose words name two options of a menu is asked which, not sent to the first one listed.

Found in review: at the main menu 我要报停宽带 (报停: 办理业务; 宽带: 故障报修, two words of two characters)
went to 故障报修, the first option with a word as long as the longest heard. Now the option whose words
cover more of what was said wins (宽带账单查询 is a bill question: 账单 and 查询 against 宽带); when they
cover as much, the caller hears content/ivr.yml ``prompts.which_option`` and the menu again, and the key
they press takes the sentence along to that option's assistant, which is not asked for again.

The real flow engine and the shipped main flow, with the assistant scripted; real Redis and database.
"""
from __future__ import annotations

import datetime as dt
import uuid

from bot.db.repository import Repository
from bot.ivr.call_state import CallStore
from bot.ivr.config import HotlineConfigSource
from bot.ivr.engine import FlowEngine
from bot.ivr.events import CallStart, KeyPress, Say, Utterance
from bot.ivr.flow_tests import CollectingNotifier, ScriptedBot, ScriptedQueue
from bot.ivr.registry import FlowRegistry
from bot.ivr.services import CallRecords, CallServices
from tests.handoff.conftest import redis, redis_url  # noqa: F401  the same real Redis fixtures


def hotline(kefu_env, redis, bot: ScriptedBot) -> FlowEngine:  # noqa: F811
    return FlowEngine(CallServices(
        registry=FlowRegistry(kefu_env.root / "ivr_flows", redis).load(), store=CallStore(redis),
        hotline=HotlineConfigSource(kefu_env.content_dir / "ivr.yml"),
        records=CallRecords(Repository(kefu_env.database_url)), handoff=ScriptedQueue(wait_s=60),
        notifier=CollectingNotifier(), bot=bot, clock=lambda: dt.datetime.fromisoformat("2026-11-23T10:00:00+08:00")))


async def test_words_of_two_options_as_long_ask_which_and_the_key_takes_the_sentence_along(kefu_env, redis):  # noqa: F811
    bot = ScriptedBot([["好的，为您办理宽带报停，请问从哪天开始？"]])
    engine = hotline(kefu_env, redis, bot)
    call_id = f"tie-{uuid.uuid4().hex[:8]}"
    await engine.start(CallStart(call_id=call_id, caller="", flow="main", speech_recognised=True))
    try:
        asked = [c for c in await engine.handle(call_id, Utterance("我要报停宽带")) if isinstance(c, Say)]
        node = (await engine.services.store.load(call_id)).node
        chose = [c for c in await engine.handle(call_id, KeyPress("3")) if isinstance(c, Say)]
        after = (await engine.services.store.load(call_id)).node
    finally:
        await engine.end(call_id, "test")
    assert node == "main_menu", f"sent to {node} on 我要报停宽带"
    assert [c.label for c in asked] == ["main_menu:which_option", "main_menu"], asked
    assert after == "service_bot"
    assert bot.heard == ["我要报停宽带"], "the sentence goes to the assistant, not asked for again"
    assert [c.text for c in chose] == ["好的，为您办理宽带报停，请问从哪天开始？"], chose


async def test_the_option_whose_words_cover_more_of_the_sentence_wins(kefu_env, redis):  # noqa: F811
    engine = hotline(kefu_env, redis, ScriptedBot([]))
    call_id = f"cover-{uuid.uuid4().hex[:8]}"
    await engine.start(CallStart(call_id=call_id, caller="", flow="main", speech_recognised=True))
    try:
        await engine.handle(call_id, Utterance("宽带账单查询"))
        node = (await engine.services.store.load(call_id)).node
    finally:
        await engine.end(call_id, "test")
    assert node == "ask_account", f"{node}: 账单 and 查询 are a bill question, 宽带 only says of what"
