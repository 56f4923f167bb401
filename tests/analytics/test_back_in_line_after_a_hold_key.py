"""A phone caller who left the queue by a hold key to key a number, and came back to their place when it would not do,
waited once: not an abandonment, not a second handoff, one wait from joining the queue.

Found in review: the hold key's leaving (``handoff_abandoned`` ``caller_chose_callback`` / ``caller_chose_notify``)
stayed an abandonment after the caller came back to the place they left (bot/ivr/handoff.py ``rejoin``): the wallboard
and ``kefu report`` counted a caller still in line as abandoned, one who hung up later as giving up after the wait
before the hold key only, and the dashboard's handoffs counted the coming back as a second handoff. The queue now
marks the coming back (``handoff_queued`` ``back_in_line``) and the reports drop that leaving and the return. A number
taken (a callback booked, the guide texted) still leaves for good, counted as before.

The real flow engine, the shipped main flow and hotline, the real queue on Redis (on a hand-driven clock: the waits)
and the database; then what a supervisor reads: the desk's wallboard, ``kefu report`` and the handoffs counter.
"""
from __future__ import annotations

import datetime as dt
import time

import pytest
from prometheus_client import REGISTRY

from bot.analytics.config import centre_zone
from bot.db.repository import Repository
from bot.handoff.queue import HandoffQueue
from bot.ivr.events import KeyPress, NoInput
from bot.ivr.flow_tests import CollectingNotifier
from bot.ivr.handoff import QueueHandoff
from tests.analytics.test_hold_keys_left_before_anything_done import BOOKED, KEY_A_NUMBER, keyed, new_call_ids, on_hold
from tests.analytics.test_report import report_of  # noqa: F401 (fixture)
from tests.analytics.test_selfhelp_instead_of_waiting import (GUIDE_SENT, answered_by_li, heard, outcomes,
                                                              supervisor_sees)
from tests.handoff.conftest import Clock, redis, redis_url  # noqa: F401  the same real Redis fixtures
from tests.ivr.test_long_wait_on_hold import agent_on_a_call, calls_take, engine_for

BACK = "已为您保留原来的排队位置"
KEY_A_MOBILE = "接收短信的11位手机号码"


def handoffs_counted() -> float:
    return REGISTRY.get_sample_value("kefu_handoffs_total", {"channel": "ivr"}) or 0.0


async def test_a_caller_back_in_line_after_a_hold_key_waited_once(kefu_env, redis, report_of):  # noqa: F811
    """Five callers whose line is not proven queue. Two key a number that will do and leave for good: a callback
    booked (1), the guide texted (3). Three come back to their place: one keyed nothing for the guide (3) 10 s in and
    hangs up 40 s after joining; one keyed a number that would not do for a callback (1) 20 s in and 李强 answers at
    45 s; one the same, still waiting as the supervisor looks. With 王芳's caller: two answered, one abandoned (33 %,
    not 50 %), after 40 s (not 10 s); six handoffs (not nine)."""
    clock = Clock(time.time())
    handoff = QueueHandoff(redis, Repository(kefu_env.database_url))
    handoff.queue = HandoffQueue(redis, clock)
    before = handoffs_counted()
    await agent_on_a_call(handoff.queue)
    await calls_take(redis, 30)  # three waiting stay under main.yml's busy-time threshold: no busy-time menu
    engine = engine_for(kefu_env, redis, handoff, CollectingNotifier())
    booked, texted, answered, gone, waiting = new_call_ids("booked texted answered gone waiting")

    await on_hold(engine, booked, "13900000051", verified=False)
    assert KEY_A_NUMBER in heard(await engine.handle(booked, KeyPress("1")))
    assert BOOKED in await keyed(engine, booked, "13900000051#")
    await engine.end(booked, "flow")
    await on_hold(engine, texted, "13900000052", verified=False)
    assert KEY_A_MOBILE in heard(await engine.handle(texted, KeyPress("3")))
    assert GUIDE_SENT in await keyed(engine, texted, "13800138000#")
    await engine.end(texted, "flow")

    for caller, number in ((answered, "13900000053"), (gone, "13900000054"), (waiting, "13900000055")):
        await on_hold(engine, caller, number, verified=False)
    clock.advance(10)
    assert KEY_A_MOBILE in heard(await engine.handle(gone, KeyPress("3")))
    silence = [heard(await engine.handle(gone, NoInput())) for _ in range(3)]  # the first try and two more
    assert BACK in silence[-1], silence
    clock.advance(10)
    for caller in (answered, waiting):
        assert KEY_A_NUMBER in heard(await engine.handle(caller, KeyPress("1")))
        assert BACK in await keyed(engine, caller, "12345#" * 3)  # not a number, three times
    assert await handoff.queue.waiting("general") == [f"ivr:{answered}", f"ivr:{gone}", f"ivr:{waiting}"]
    clock.advance(20)
    await engine.end(gone, "hung_up")
    clock.advance(5)
    await answered_by_li(engine, handoff, answered)
    await engine.drain()

    assert outcomes(kefu_env, booked, texted, answered, gone, waiting) == [
        "callback", "selfhelp_sent", "agent", "abandoned", "waiting"]
    seen = supervisor_sees(kefu_env, report_of)
    assert seen["wallboard"] == (2, 1, pytest.approx(1 / 3), 1)
    assert seen["report"][:2] == ("0.3333", "1")
    today = dt.datetime.now(centre_zone(kefu_env.content_dir)).date().isoformat()
    _, report, _ = report_of(today, today)
    waits = [float(report[("overall", "", figure)]) for figure in ("abandon_median_s", "wait_max_s")]
    assert waits == [pytest.approx(40, abs=1), pytest.approx(45, abs=1)], "from joining, not to the hold key"
    assert [report.get(("overall", "", f"how_{how}")) for how in ("agent", "callback", "selfhelp_sent", "abandoned",
                                                                  "waiting")] == ["1", "1", "1", "1", "1"]
    # 王芳's caller is hers still (agent open); the caller still in line is not counted as giving up
    assert handoffs_counted() - before == 6, "each caller's wait is one handoff, the way back no second"
    await engine.end(waiting, "hung_up")
