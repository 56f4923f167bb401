"""A caller told by the flow that no agent is online, who chose to wait, is not told it again by the
waiting room's first notice (found on a live call: 目前没有人工客服在线，暂时无法估计等待时间 twice in 35 s,
with the same keys read out each time).

The real flow engine, the shipped main flow and the real queue, on a real Redis and database; the waiting
room's notice step is the one its passes run."""
from __future__ import annotations

import datetime as dt
import uuid

from bot.db.repository import Repository
from bot.handoff.queue import HandoffQueue, QueuePosition
from bot.handoff.watcher import WaitingRoom
from bot.ivr.call_state import CallStore
from bot.ivr.config import HotlineConfigSource
from bot.ivr.engine import FlowEngine
from bot.ivr.events import CallStart, KeyPress
from bot.ivr.flow_tests import CollectingNotifier, ScriptedBot
from bot.ivr.handoff import QueueHandoff
from bot.ivr.registry import FlowRegistry
from bot.ivr.services import CallRecords, CallServices
from tests.handoff.conftest import redis, redis_url  # noqa: F401  the same real Redis fixtures


class SaidToCaller:
    def __init__(self) -> None:
        self.said: list[str] = []

    async def utter(self, conversation_id: str, response: str, **kwargs) -> None:
        self.said.append(response)


async def test_nobody_online_is_said_once_to_a_caller_who_waits(kefu_env, redis):  # noqa: F811
    repository = Repository(kefu_env.database_url)
    at = dt.datetime.fromisoformat("2026-11-23T10:00:00+08:00")
    engine = FlowEngine(CallServices(
        registry=FlowRegistry(kefu_env.root / "ivr_flows", redis).load(), store=CallStore(redis),
        hotline=HotlineConfigSource(kefu_env.content_dir / "ivr.yml"), records=CallRecords(repository),
        handoff=QueueHandoff(redis, repository), notifier=CollectingNotifier(), bot=ScriptedBot([]),
        clock=lambda: at))
    call_id = f"nobody-{uuid.uuid4().hex[:8]}"
    await engine.start(CallStart(call_id=call_id, caller="", flow="main", speech_recognised=True))
    try:
        await engine.handle(call_id, KeyPress("0"))  # 人工服务: nobody is signed in
        assert (await engine.services.store.load(call_id)).node == "nobody_offer"
        await engine.handle(call_id, KeyPress("0"))  # 继续等待
        assert (await engine.services.store.load(call_id)).node == "wait_without_estimate"
        caller = SaidToCaller()
        await WaitingRoom(HandoffQueue(redis), caller).notify_if_changed(f"ivr:{call_id}", QueuePosition(1, 0.0),
                                                                         available=False)
    finally:
        await engine.end(call_id, "test")
    assert caller.said == []
