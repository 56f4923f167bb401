"""A phone caller who pressed 0 asked for a person: found by a tester, one who hung up at the peak offer
was "no answer" (out of every rate), and one who stayed had his wait counted from the queue, 76 s short.

The real flow engine and the shipped main flow (queue scripted: a 10-minute wait, so the peak offer
plays), on a real Redis and database; then the report on events as the peak night recorded them.
"""
from __future__ import annotations

import datetime as dt
import uuid

import pytest

from bot.analytics.contacts import split_contacts
from bot.analytics.kpis import figures
from bot.db.repository import Repository, engine_for
from bot.ivr.call_state import CallStore
from bot.ivr.config import HotlineConfigSource
from bot.ivr.engine import FlowEngine
from bot.ivr.events import CallStart, KeyPress
from bot.ivr.flow_tests import CollectingNotifier, ScriptedBot, ScriptedQueue
from bot.ivr.registry import FlowRegistry
from bot.ivr.services import CallRecords, CallServices
from bot.outcomes.events import outcome_event
from bot.outcomes.store import write_events
from tests.analytics.test_report import report_of  # noqa: F401 (fixture)
from tests.handoff.conftest import redis, redis_url  # noqa: F401  the same real Redis fixtures


async def test_a_caller_who_pressed_0_and_hung_up_at_the_peak_offer_asked_for_a_person_and_abandoned(
        kefu_env, redis):  # noqa: F811
    repository = Repository(kefu_env.database_url)
    queue = ScriptedQueue(wait_s=600)  # over the flow's queue_wait_over_s: the peak offer
    at = dt.datetime.fromisoformat("2026-11-23T10:00:00+08:00")  # the agents are in
    engine = FlowEngine(CallServices(
        registry=FlowRegistry(kefu_env.root / "ivr_flows", redis).load(), store=CallStore(redis),
        hotline=HotlineConfigSource(kefu_env.content_dir / "ivr.yml"), records=CallRecords(repository),
        handoff=queue, notifier=CollectingNotifier(), bot=ScriptedBot([]), clock=lambda: at))
    call_id = f"peak-{uuid.uuid4().hex[:8]}"
    await engine.start(CallStart(call_id=call_id, caller="13900000000", flow="main", speech_recognised=True))
    await engine.handle(call_id, KeyPress("0"))
    await engine.end(call_id, "hung_up")
    assert not queue.queued  # never reached the queue
    contacts = [c for c in split_contacts(repository.events_for(f"ivr:{call_id}"))]
    assert [(c.how, c.handoff_requested) for c in contacts] == [("abandoned", True)]
    f = figures(contacts, sl_seconds=20)
    assert (f.handoff_rate, f.abandonment, f.abandoned) == (1, 1, 1)


T0 = dt.datetime(2026, 12, 2, 16, 36, 50)  # 2026-12-03 00:36 in the centre's zone


def test_the_phone_wait_is_counted_from_pressing_0(kefu_env, report_of):  # noqa: F811
    """P1 pressed 0 at 12 s and hung up at the offer at 52 s; P3 pressed 0 at 32 s, was queued 76 s later
    and answered after 62.1 s in the queue: 138.1 s from asking."""
    s = lambda seconds: T0 + dt.timedelta(seconds=seconds)  # noqa: E731
    events = [
        ("ivr:p1", 0, "contact_started", {}),
        ("ivr:p1", 12, "handoff_requested", {"reason": "caller_asked", "node": "agent_route"}),
        ("ivr:p1", 52, "ivr_call_ended", {"reason": "hung_up", "path": ["main_menu", "agent_route", "peak_offer"]}),
        ("ivr:p3", 20, "contact_started", {}),
        ("ivr:p3", 32, "handoff_requested", {"reason": "caller_asked", "node": "agent_route"}),
        ("ivr:p3", 108, "handoff_queued", {"skill": "general"}),
        ("ivr:p3", 108.1, "ivr_transferred", {"skill": "general", "position": 5}),
        ("ivr:p3", 170.1, "handoff_claimed", {"skill": "general", "wait_s": 62.1, "agent_id": "liu"}),
        ("ivr:p3", 190.5, "handoff_closed", {"skill": "general", "disposition": "resolved", "handle_s": 20.4}),
        ("ivr:p3", 232, "ivr_call_ended", {"reason": "hung_up", "path": ["agent_route", "peak_offer", "transfer_general"]}),
    ]
    write_events(engine_for(kefu_env.database_url), [
        outcome_event(c, kind, channel="ivr", at=s(seconds), **data) for c, seconds, kind, data in events])
    code, figures_, _ = report_of("2026-12-03", "2026-12-03")
    assert code == 0
    assert float(figures_[("overall", "", "asa_s")]) == pytest.approx(138.1, abs=0.01)
    assert figures_[("overall", "", "handoffs")] == "2"
    assert float(figures_[("overall", "", "abandonment")]) == pytest.approx(1 / 2)
