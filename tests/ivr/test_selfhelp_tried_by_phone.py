"""The phone does not text self-help again to a proven caller who said it did not help.

A customer told the web chat that the router-restart guide did not fix their broadband (没解决). They
call at a peak hour, are offered the self-help text instead of the wait, and press 1: the shipped main
flow's guide is the same self-help, so the caller hears that it is not sent again and is put through to
an agent. A caller whose number the trunk did not vouch for gets the usual text (the history stays private).

The real flow engine and the shipped main flow, with the queue, the assistant and the clock scripted
(``bot.ivr.flow_tests``), on a real Redis and database; the answer is a real outcome event.
"""
from __future__ import annotations

import datetime as dt
import uuid

from bot.db.repository import Repository
from bot.ivr.call_state import CallStore
from bot.ivr.config import HotlineConfigSource
from bot.ivr.engine import FlowEngine
from bot.ivr.events import CallStart, KeyPress, Say
from bot.ivr.flow_tests import CollectingNotifier, ScriptedBot, ScriptedQueue
from bot.ivr.registry import FlowRegistry
from bot.ivr.services import CallRecords, CallServices
from bot.outcomes import record, recorder_for
from bot.outcomes.events import customer_key
from tests.handoff.conftest import redis, redis_url  # noqa: F401  the same real Redis fixtures

CUSTOMER_PHONE = "13800000001"  # demo customer 1
AT_PEAK = dt.datetime.fromisoformat("2026-11-23T10:00:00+08:00")  # agents in, a 10-minute wait


async def restart_guide_did_not_help(kefu_env) -> None:
    """Customer 1, proven in a web chat, said 没解决 to the router-restart guide."""
    await record("web-tried-1", "selfhelp_failed", channel="webchat", customer=customer_key(customer_id=1),
                 selfhelp_id="bb_restart", fault_type="fault_broadband", database_url=kefu_env.database_url)
    assert await recorder_for(kefu_env.database_url).flush()


async def ask_for_the_selfhelp_text(kefu_env, redis, *, vouched: bool,  # noqa: F811
                                    number_keyed: str = "", contact_token: str = "") -> tuple[list[str], list[str], list[str]]:
    """Call, ask for an agent (0), take the peak offer's self-help text (1), key the number asked for if
    any: what the caller heard, what was texted, which queues the call went to."""
    queue, notifier = ScriptedQueue(wait_s=600), CollectingNotifier()
    engine = FlowEngine(CallServices(
        registry=FlowRegistry(kefu_env.root / "ivr_flows", redis).load(), store=CallStore(redis),
        hotline=HotlineConfigSource(kefu_env.content_dir / "ivr.yml"),
        records=CallRecords(Repository(kefu_env.database_url)), handoff=queue, notifier=notifier,
        bot=ScriptedBot([]), clock=lambda: AT_PEAK))
    call_id = f"tried-{uuid.uuid4().hex[:8]}"
    heard: list[str] = []
    commands = await engine.start(CallStart(call_id=call_id, caller=CUSTOMER_PHONE, flow="main",
                                            caller_verified=vouched, speech_recognised=True,
                                            contact_token=contact_token))
    try:
        for key in "01" + number_keyed:
            commands = await engine.handle(call_id, KeyPress(key))
            heard += [c.text for c in commands if isinstance(c, Say)]
    finally:
        await engine.end(call_id, "test")
    return heard, notifier.sent, queue.queued


async def test_a_proven_caller_is_not_texted_the_guide_again_and_goes_to_an_agent(kefu_env, redis):  # noqa: F811
    await restart_guide_did_not_help(kefu_env)

    heard, texted, queued = await ask_for_the_selfhelp_text(kefu_env, redis, vouched=True)

    assert texted == [], "the same self-help texted again"
    assert any("不再发送" in said for said in heard), heard
    assert not any("已经发送到您的手机" in said for said in heard), heard
    assert queued == ["general"], "put through to an agent instead"


async def test_a_proven_caller_with_nothing_tried_gets_the_text(kefu_env, redis):  # noqa: F811
    heard, texted, queued = await ask_for_the_selfhelp_text(kefu_env, redis, vouched=True)

    assert texted == ["sms"]
    assert any("已经发送到您的手机" in said for said in heard), heard
    assert queued == []


async def test_an_unvouched_caller_id_gets_the_usual_text(kefu_env, redis):  # noqa: F811
    """Whoever claims the number learns nothing of its owner's history: the text goes to the number keyed."""
    await restart_guide_did_not_help(kefu_env)

    heard, texted, queued = await ask_for_the_selfhelp_text(kefu_env, redis, vouched=False,
                                                            number_keyed=CUSTOMER_PHONE + "#")

    assert texted == ["sms"]
    assert not any("不再发送" in said for said in heard), heard
    assert any("已经发送到您的手机" in said for said in heard), heard
    assert queued == []


async def test_a_made_up_contact_token_does_not_prove_the_caller_id(kefu_env, redis):  # noqa: F811
    """Any media stream may send ``kefuContact``: one Kefu did not give out is no proof of the number
    (with one, whoever claimed it heard of its owner's self-help and had texts sent to that phone)."""
    await restart_guide_did_not_help(kefu_env)

    heard, texted, queued = await ask_for_the_selfhelp_text(kefu_env, redis, vouched=False,
                                                            number_keyed=CUSTOMER_PHONE + "#",
                                                            contact_token="not-a-token")

    assert not any("不再发送" in said for said in heard), heard
    assert texted == ["sms"] and queued == []
