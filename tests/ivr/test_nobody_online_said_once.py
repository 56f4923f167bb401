"""A caller told by the flow that no agent is online, who chose to wait, is not told it again by the
waiting room's first notice (found on a live call: 目前没有人工客服在线，暂时无法估计等待时间 twice in 35 s,
with the same keys read out each time).

Remembering it so does not hide what happened since: found in review, an agent who signed in, took the call and
signed out between its queueing and that note had "your agent left" overwritten by it, never said to the caller.

The real flow engine, the shipped main flow and the real queue, on a real Redis and database; the waiting
room's notice step is the one its passes run."""
from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from urllib.parse import urlparse

import pytest
import redis.asyncio as aioredis

from bot.db.repository import Repository
from bot.handoff.departures import sign_out
from bot.handoff.joined import say_joined, told
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
from tests.handoff.held_reply import HeldReplyProxy
from tests.handoff.test_callback_transferred import HandingOver


class SaidToCaller:
    def __init__(self) -> None:
        self.said: list[str] = []

    async def utter(self, conversation_id: str, response: str, **kwargs) -> None:
        self.said.append(response)


def flow_engine(kefu_env, redis, handoff_redis) -> FlowEngine:  # noqa: F811
    """The engine, its queue on ``handoff_redis``."""
    repository = Repository(kefu_env.database_url)
    at = dt.datetime.fromisoformat("2026-11-23T10:00:00+08:00")
    return FlowEngine(CallServices(
        registry=FlowRegistry(kefu_env.root / "ivr_flows", redis).load(), store=CallStore(redis),
        hotline=HotlineConfigSource(kefu_env.content_dir / "ivr.yml"), records=CallRecords(repository),
        handoff=QueueHandoff(handoff_redis, repository), notifier=CollectingNotifier(), bot=ScriptedBot([]),
        clock=lambda: at))


@pytest.mark.usefixtures("agents_in_all_day")  # the flow's clock reads 10:00, the waiting room's the real one
async def test_nobody_online_is_said_once_to_a_caller_who_waits(kefu_env, redis):  # noqa: F811
    engine = flow_engine(kefu_env, redis, redis)
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


@pytest.mark.usefixtures("agents_in_all_day")  # "nobody online" as said in the daytime
async def test_an_agent_who_takes_and_leaves_a_caller_as_they_are_queued_is_told_to_them(
        kefu_env, redis, redis_url):  # noqa: F811
    """Told nobody is online, the caller waits; 李雷 signs in, takes the call and signs out as it is queued (the
    answer to its place read held back by a hop to Redis), before the flow notes "nobody" as told. The waiting
    room's next notice tells the caller their agent left, and that nobody is online again."""
    proxy = await HeldReplyProxy(urlparse(redis_url).port).start()
    parts = urlparse(redis_url)
    client = aioredis.Redis(host=parts.hostname, port=proxy.port, db=int(parts.path.lstrip("/") or 0))
    engine = flow_engine(kefu_env, redis, client)
    queue = HandoffQueue(redis)
    call_id = f"nobody-{uuid.uuid4().hex[:8]}"
    conversation = f"ivr:{call_id}"
    caller = HandingOver(time.time)
    await engine.start(CallStart(call_id=call_id, caller="", flow="main", speech_recognised=True))
    try:
        await engine.handle(call_id, KeyPress("0"))  # 人工服务: nobody is signed in
        assert (await engine.services.store.load(call_id)).node == "nobody_offer"
        await queue.roster.register("li", name="李雷", skills=["general"], capacity=2, status="available")
        proxy.hold_reply_to("ZRANK", conversation)  # the place read once the call is queued
        waits = asyncio.create_task(engine.handle(call_id, KeyPress("0")))  # 继续等待
        await asyncio.wait_for(proxy.held.wait(), 10)
        request = await queue.claim_next("li")
        assert request.conversation_id == conversation
        await say_joined(caller, request, "李雷", once="joined:li")
        await told(queue, conversation)
        assert await sign_out(queue, "li", None) == 1
        proxy.release()
        await asyncio.wait_for(waits, 10)
        assert (await engine.services.store.load(call_id)).node == "wait_without_estimate"
        await WaitingRoom(HandoffQueue(redis), caller).notify_if_changed(
            conversation, await queue.position(conversation), available=False)
    finally:
        await engine.end(call_id, "test")
        await client.close()
        await proxy.close()
    assert caller.responses(conversation) == [
        "utter_agent_joined", "utter_queue_agent_left", "utter_queue_nobody_available"]
