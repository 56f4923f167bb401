"""A caller is told a callback was booked only when one was.

Found in review: the care and arrears flows (Kefu's own outbound calls) booked their callback with no
``ask_number``, then said 我们已为您预约人工回电. Anyone can open the media stream and ask for either flow
(``flow=care``): such a stream's number proves nothing, so nothing was booked, and the caller heard
"cannot book a callback" and then that one was booked. Shipped flows, real Redis and SQLite.
"""
from __future__ import annotations

import uuid

import pytest

from bot.db.repository import Repository
from bot.ivr.call_state import CallStore
from bot.ivr.config import HotlineConfigSource
from bot.ivr.engine import FlowEngine
from bot.ivr.events import CallStart, KeyPress, Say
from bot.ivr.flow_tests import CollectingNotifier, ScriptedBot, ScriptedQueue
from bot.ivr.registry import FlowRegistry
from bot.ivr.services import CallRecords, CallServices
from tests.handoff.conftest import redis, redis_url  # noqa: F401


def shipped_flows(kefu_env, redis, repository, **services) -> FlowEngine:  # noqa: F811
    """The shipped flows' engine on real Redis and the database; a queue with a minute's wait unless given."""
    return FlowEngine(CallServices(
        registry=FlowRegistry(kefu_env.root / "ivr_flows", redis).load(), store=CallStore(redis),
        hotline=HotlineConfigSource(kefu_env.content_dir / "ivr.yml"), records=CallRecords(repository),
        notifier=CollectingNotifier(), bot=ScriptedBot([]), **{"handoff": ScriptedQueue(wait_s=60), **services}))


async def said_after_asking_for_help(kefu_env, redis, flow: str, key: str, *, verified: bool):  # noqa: F811
    """What the caller hears after choosing the callback, and the call's callback tickets."""
    repository = Repository(kefu_env.database_url)
    engine = shipped_flows(kefu_env, redis, repository)
    call_id = f"care-{uuid.uuid4().hex[:8]}"
    await engine.start(CallStart(call_id=call_id, caller="13800000001", flow=flow, caller_verified=verified,
                                 vouched=verified))
    heard = [c.text for c in await engine.handle(call_id, KeyPress(key)) if isinstance(c, Say)]
    await engine.end(call_id, "test")
    tickets = [t for t in repository.tickets_since() if t.get("conversation_id") == f"ivr:{call_id}"]
    return heard, [t["kind"] for t in tickets]


@pytest.mark.parametrize("flow, key", [("care", "2"), ("arrears", "0")])
async def test_a_caller_nobody_vouched_for_is_not_told_a_callback_was_booked(kefu_env, redis, flow, key):  # noqa: F811
    heard, tickets = await said_after_asking_for_help(kefu_env, redis, flow, key, verified=False)
    assert tickets == []
    assert any("无法为您预约回电" in text for text in heard), heard  # content/ivr.yml unverified_no_callback
    assert not any("已为您预约" in text for text in heard), heard


@pytest.mark.parametrize("flow, key", [("care", "2"), ("arrears", "0")])
async def test_a_vouched_caller_is_booked_and_told_so(kefu_env, redis, flow, key):  # noqa: F811
    heard, tickets = await said_after_asking_for_help(kefu_env, redis, flow, key, verified=True)
    assert tickets == ["callback"]
    assert any("已为您预约人工回电" in text for text in heard), heard


async def test_a_vouched_caller_whose_callback_could_not_be_booked_is_not_told_it_was(kefu_env, redis):  # noqa: F811
    """The same `on_failure` is taken when the ticket cannot be made (the database refuses it): before it, the
    caller heard 我们已为您预约人工回电 for a ticket that did not exist."""
    import sqlalchemy as sa

    repository = Repository(kefu_env.database_url)
    engine = shipped_flows(kefu_env, redis, repository)
    call_id = f"care-{uuid.uuid4().hex[:8]}"
    await engine.start(CallStart(call_id=call_id, caller="13800000001", flow="care", caller_verified=True,
                                 vouched=True))
    with repository.engine.begin() as conn:  # the tickets cannot be written now
        conn.execute(sa.text("ALTER TABLE tickets RENAME TO tickets_away"))
    heard = [c.text for c in await engine.handle(call_id, KeyPress("2")) if isinstance(c, Say)]
    await engine.end(call_id, "test")
    assert not any("已为您预约" in text for text in heard), heard
    assert any("暂时无法为您预约回电" in text for text in heard), heard  # content/ivr.yml callback_failed
    assert any("请您对我们的服务进行评价" in text for text in heard), heard  # on to the survey (on_failure)


async def test_a_hotline_caller_whose_callback_could_not_be_booked_is_offered_a_voice_message(
        kefu_env, redis):  # noqa: F811
    """main.yml's callback (预约回电请按1 with no agent signed in) said 已为您预约回电 and hung up when the
    database refused the ticket: the caller waited for a call that never came. Its `on_failure` is the voice
    message, as for a caller who cannot key a number."""
    import datetime as dt

    import sqlalchemy as sa

    repository = Repository(kefu_env.database_url)
    engine = shipped_flows(kefu_env, redis, repository, handoff=ScriptedQueue(wait_s=60, agents_online=False),
                           clock=lambda: dt.datetime.fromisoformat("2026-11-23T10:00:00+08:00"))  # a Monday morning
    call_id = f"main-{uuid.uuid4().hex[:8]}"
    await engine.start(CallStart(call_id=call_id, caller="13800000001", flow="main", caller_verified=True,
                                 vouched=True))
    offered = [c.label for c in await engine.handle(call_id, KeyPress("0")) if isinstance(c, Say)]
    assert offered[-1] == "nobody_offer", offered
    with repository.engine.begin() as conn:  # the tickets cannot be written now
        conn.execute(sa.text("ALTER TABLE tickets RENAME TO tickets_away"))
    heard = [c for c in await engine.handle(call_id, KeyPress("1")) if isinstance(c, Say)]
    await engine.end(call_id, "test")
    assert not any("已为您预约" in c.text for c in heard), heard
    assert [c.label for c in heard] == ["book_callback:failed", "leave_message"], heard
