"""A caller whose wait grows long while on hold is offered, once, what the busy-time menu offers: a callback, a message,
the self-help guide by SMS.

Found in review: the shipped flow offers it (``peak_offer``) only as it routes the call to the queue; a caller queued
while the wait was a minute heard only the place and the generic reminder when the calls ahead then took ten. The real
flow engine, the shipped main flow and hotline, the real queue on Redis and the database; only the assistant is
scripted. The wait grows as agents' calls grow long (the queue's handle times, as the desk's closes keep them).

Found in the next review: the offer on hold had no SMS self-help, which ``peak_offer`` gives (its 1; on hold 1 stays
the callback, so 3), and its threshold was written twice in main.yml (the route's ``queue_wait_over_s`` and the
hold's own): the hold now reads the route's.
"""
from __future__ import annotations

import datetime as dt
import shutil
import uuid

import pytest

from bot.db.repository import Repository
from bot.handoff import keys
from bot.handoff.queue import HandoffRequest
from bot.ivr.call_state import CallStore
from bot.ivr.config import HotlineConfigSource
from bot.ivr.engine import FlowEngine
from bot.ivr.events import CallStart, KeyPress, NoInput, Say
from bot.ivr.flow_tests import CollectingNotifier, ScriptedBot
from bot.ivr.handoff import QueueHandoff
from bot.ivr.registry import FlowRegistry
from bot.ivr.services import CallRecords, CallServices
from bot.notify import NotifyError
from tests.handoff.conftest import redis, redis_url  # noqa: F401  the same real Redis fixtures
from tests.ivr.test_selfhelp_tried_by_phone import CUSTOMER_PHONE, restart_guide_did_not_help

LONG_WAIT = "hold:long_wait"
REMINDER = "hold:reminder"


def engine_for(kefu_env, redis, handoff: QueueHandoff, notifier=None, flows=None) -> FlowEngine:  # noqa: F811
    """The shipped main flow (or the flows in ``flows``) at 10:00 on a weekday, on the real queue."""
    return FlowEngine(CallServices(
        registry=FlowRegistry(flows or kefu_env.root / "ivr_flows", redis).load(), store=CallStore(redis),
        hotline=HotlineConfigSource(kefu_env.content_dir / "ivr.yml"),
        records=CallRecords(Repository(kefu_env.database_url)), handoff=handoff,
        notifier=notifier or CollectingNotifier(), bot=ScriptedBot([]),
        clock=lambda: dt.datetime.fromisoformat("2026-11-23T10:00:00+08:00")))


async def calls_take(redis, seconds: float) -> None:  # noqa: F811
    """The general group's recent calls each took ``seconds`` (the mean every estimate divides by)."""
    await redis.delete(keys.handle_times("general"))
    await redis.rpush(keys.handle_times("general"), *[f"{seconds:.3f}"] * 20)


async def agent_on_a_call(queue) -> None:
    """王芳, the general group's one agent, is on another caller's call: the next caller waits for her."""
    await queue.roster.register("wang", name="王芳", skills=["general"], capacity=2, status="available")
    await queue.enqueue(HandoffRequest(f"ivr:ahead-{uuid.uuid4().hex[:6]}", "ivr", "general", 0, None, {}))
    assert await queue.claim_next("wang") is not None


def spoken(commands: list) -> list[tuple[str, str]]:
    return [(c.label, c.text) for c in commands if isinstance(c, Say)]


def labels(commands: list) -> list[str]:
    return [label for label, _ in spoken(commands)]


async def test_the_wait_grown_long_on_hold_is_said_once_with_the_keys_to_leave(kefu_env, redis):  # noqa: F811
    handoff = QueueHandoff(redis, Repository(kefu_env.database_url))
    await agent_on_a_call(handoff.queue)
    await calls_take(redis, 60)  # a minute's wait: straight to the queue, no busy-time menu
    engine = engine_for(kefu_env, redis, handoff)
    call_id = f"long-{uuid.uuid4().hex[:8]}"
    await engine.start(CallStart(call_id=call_id, caller="", flow="main", speech_recognised=True))
    try:
        queued = spoken(await engine.handle(call_id, KeyPress("0")))  # 人工服务
        assert any("正在为您转接人工客服" in text for _, text in queued), queued
        assert (await handoff.queue.position(f"ivr:{call_id}")).position == 1
        assert labels(await engine.handle(call_id, NoInput())) == [REMINDER], "a minute: the usual reminder"

        await calls_take(redis, 600)  # the calls ahead now take ten minutes
        offered = spoken(await engine.handle(call_id, NoInput()))
        later = [labels(await engine.handle(call_id, NoInput())) for _ in range(2)]
        callback = spoken(await engine.handle(call_id, KeyPress("1")))
    finally:
        await engine.end(call_id, "test")
    assert [label for label, _ in offered] == [LONG_WAIT], offered
    assert "10分钟" in offered[0][1] and "预约回电请按1" in offered[0][1], offered
    assert later == [[REMINDER], [REMINDER]], "said once in the call, then the reminder again"
    assert any("回电号码" in text for _, text in callback), callback  # 1 books a callback (asks this caller's number)


async def test_a_caller_offered_the_busy_menu_is_not_offered_it_again_on_hold(kefu_env, redis):  # noqa: F811
    handoff = QueueHandoff(redis, Repository(kefu_env.database_url))
    await agent_on_a_call(handoff.queue)
    await calls_take(redis, 600)  # ten minutes already as they call
    engine = engine_for(kefu_env, redis, handoff)
    call_id = f"peak-{uuid.uuid4().hex[:8]}"
    await engine.start(CallStart(call_id=call_id, caller="", flow="main", speech_recognised=True))
    try:
        menu = spoken(await engine.handle(call_id, KeyPress("0")))
        assert any("当前咨询人数较多" in text for _, text in menu), menu  # peak_offer
        await engine.handle(call_id, KeyPress("0"))  # 继续等待
        assert await handoff.queue.position(f"ivr:{call_id}") is not None
        on_hold = [labels(await engine.handle(call_id, NoInput())) for _ in range(2)]
    finally:
        await engine.end(call_id, "test")
    assert on_hold == [[REMINDER], [REMINDER]]


class GatewayDown(CollectingNotifier):
    async def send(self, to: str, message: dict) -> None:
        raise NotifyError("the SMS gateway does not answer")


async def on_hold_told_the_wait_is_long(kefu_env, redis, handoff: QueueHandoff, engine: FlowEngine,  # noqa: F811
                                        call_id: str) -> list[tuple[str, str]]:
    """Customer 1 (the trunk vouched for the number) calls with a minute's wait, presses 0, and is queued; a
    second caller queues behind; the calls ahead grow to ten minutes: what the hold timer's turn then says."""
    await engine.start(CallStart(call_id=call_id, caller=CUSTOMER_PHONE, caller_verified=True, flow="main",
                                 speech_recognised=True))
    queued = spoken(await engine.handle(call_id, KeyPress("0")))
    assert any("正在为您转接人工客服" in text for _, text in queued), queued
    await handoff.queue.enqueue(HandoffRequest(f"ivr:behind-{uuid.uuid4().hex[:6]}", "ivr", "general", 0, None, {}))
    assert (await handoff.queue.position(f"ivr:{call_id}")).position == 1
    await calls_take(redis, 600)
    return spoken(await engine.handle(call_id, NoInput()))


async def test_the_long_wait_offer_on_hold_texts_the_selfhelp_guide_on_its_own_key(kefu_env, redis):  # noqa: F811
    """As peak_offer does (its 1), on a key of its own: 1 is still the callback, as the reminder said before."""
    handoff, notifier = QueueHandoff(redis, Repository(kefu_env.database_url)), CollectingNotifier()
    await agent_on_a_call(handoff.queue)
    await calls_take(redis, 60)
    engine = engine_for(kefu_env, redis, handoff, notifier)
    call_id = f"text-{uuid.uuid4().hex[:8]}"
    try:
        offered = await on_hold_told_the_wait_is_long(kefu_env, redis, handoff, engine, call_id)
        texted = spoken(await engine.handle(call_id, KeyPress("3")))
        still_queued = await handoff.queue.position(f"ivr:{call_id}")
    finally:
        await engine.end(call_id, "test")
    assert [label for label, _ in offered] == [LONG_WAIT], offered
    assert "预约回电请按1" in offered[0][1] and "短信获取自助服务指引请按3" in offered[0][1], offered
    assert notifier.sent == ["sms"], "the guide texted"
    assert any("自助服务指引已经发送到您的手机" in text for _, text in texted), texted
    assert still_queued is None, "out of the queue, as the caller chose the text instead of the wait"


@pytest.mark.parametrize("why", ["tried before", "gateway down"])
async def test_a_guide_not_texted_on_hold_keeps_the_callers_place(kefu_env, redis, why):  # noqa: F811
    """The guide is the self-help the caller said did not help, or the gateway is down: peak_offer's ways on
    (queued at the back, the call ended) are for a caller not queued yet. On hold they are told and wait on,
    first in line, ahead of the caller who queued after them."""
    if why == "tried before":
        await restart_guide_did_not_help(kefu_env)
    notifier = GatewayDown() if why == "gateway down" else CollectingNotifier()
    handoff = QueueHandoff(redis, Repository(kefu_env.database_url))
    await agent_on_a_call(handoff.queue)
    await calls_take(redis, 60)
    engine = engine_for(kefu_env, redis, handoff, notifier)
    call_id = f"kept-{uuid.uuid4().hex[:8]}"
    try:
        await on_hold_told_the_wait_is_long(kefu_env, redis, handoff, engine, call_id)
        heard = [text for _, text in spoken(await engine.handle(call_id, KeyPress("3")))]
        place = await handoff.queue.position(f"ivr:{call_id}")
    finally:
        await engine.end(call_id, "test")
    told = "不再发送" if why == "tried before" else "暂时无法发送"
    assert any(told in text for text in heard), heard
    assert not any("再见" in text or "正在为您转接" in text for text in heard), heard
    assert notifier.sent == [], "nothing texted"
    assert place is not None and place.position == 1, "still first in line"


async def test_the_offer_on_hold_reads_the_wait_the_route_calls_long(kefu_env, redis, tmp_path):  # noqa: F811
    """An editor who makes the busy-time menu wait for 15 minutes (agent_route's ``queue_wait_over_s``) does so for
    the offer on hold too: a caller whose wait grows to ten hears the usual reminder."""
    flows = shutil.copytree(kefu_env.root / "ivr_flows", tmp_path / "ivr_flows")
    main = flows / "main.yml"
    main.write_text(main.read_text(encoding="utf-8").replace("queue_wait_over_s: 180,", "queue_wait_over_s: 900,", 1),
                    encoding="utf-8")
    handoff = QueueHandoff(redis, Repository(kefu_env.database_url))
    await agent_on_a_call(handoff.queue)
    await calls_take(redis, 60)
    engine = engine_for(kefu_env, redis, handoff, flows=flows)
    call_id = f"slow-{uuid.uuid4().hex[:8]}"
    await engine.start(CallStart(call_id=call_id, caller="", flow="main", speech_recognised=True))
    try:
        await engine.handle(call_id, KeyPress("0"))
        await calls_take(redis, 600)  # ten minutes: under the editor's fifteen
        ten = labels(await engine.handle(call_id, NoInput()))
        await calls_take(redis, 1200)  # twenty: past them
        twenty = labels(await engine.handle(call_id, NoInput()))
    finally:
        await engine.end(call_id, "test")
    assert (ten, twenty) == ([REMINDER], [LONG_WAIT])
