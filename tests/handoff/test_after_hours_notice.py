"""Queued with nobody online outside the agents' hours, the customer hears when they are back.

Found in a live trial: a chat handed over at night was told "目前没有人工客服在线…您也可以继续等待", with no word of
when anyone would come, though the hotline's hours (content/ivr.yml ``business_hours``) say it (the phone's flow
reads them). Outside them ``utter_queue_after_hours`` is said instead, with the next opening (``opens_at``).
"""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from bot.handoff.presence import mark_customer_seen
from bot.handoff.queue import HandoffQueue
from tests.action_tests.conftest import run_action, with_redis  # noqa: F401 - fixtures
from tests.action_tests.trackers import load_tracker
from tests.handoff.test_waiting_room import room, settings, wait_in_line  # noqa: F401 - fixtures

BEIJING = ZoneInfo("Asia/Shanghai")


async def test_handed_over_on_a_day_the_agents_are_off_the_customer_hears_when_they_are_back(
        run_action, with_redis, agents_hours):
    today = dt.datetime.now(BEIJING).date()
    # Today and tomorrow off: a run crossing midnight still finds the agents back on the day after tomorrow.
    agents_hours(open="00:00", close="24:00", closed_dates=[today, today + dt.timedelta(days=1)])
    tracker = load_tracker("selfhelp_denied", text="转人工", intent="request_human", sender="off-today",
                           selfhelp_failures=2)
    turn = await run_action("action_request_human", tracker)
    assert turn.responses[0] == "utter_queue_after_hours" and "utter_queue_nobody_available" not in turn.responses
    assert turn.message("utter_queue_after_hours")["opens_at"] == f"{today + dt.timedelta(days=2):%m-%d} 00:00"
    [status] = [m["custom"] for m in turn.messages if m.get("custom", {}).get("kind") == "queue_status"]
    assert status["agents_available"] is False
    assert (await HandoffQueue(with_redis).entry("off-today"))["state"] == "waiting", "still queued"


async def test_within_the_agents_hours_nobody_online_is_said_as_before(run_action, with_redis, agents_in_all_day):
    tracker = load_tracker("selfhelp_denied", text="转人工", intent="request_human", sender="daytime",
                           selfhelp_failures=2)
    turn = await run_action("action_request_human", tracker)
    assert turn.responses[0] == "utter_queue_nobody_available"


async def test_the_waiting_room_says_when_the_agents_are_back_before_they_open(room, queue, clock, agents_hours):
    """The room's clock reads 06:13 in Beijing (tests/handoff/conftest.py), before the agents' 08:00."""
    assert dt.datetime.fromtimestamp(clock(), BEIJING).strftime("%H:%M") == "06:13"
    agents_hours(open="08:00", close="21:00")
    await wait_in_line(queue, "early")
    await room.visit("early")
    assert room.conversations.said["early"] == [("utter_queue_after_hours", {"opens_at": "08:00"})]


async def test_a_customer_told_nobody_is_online_hears_when_the_agents_close_for_the_night(
        room, queue, clock, agents_hours):
    """Found in review: told "nobody online" (that they may keep waiting) just before closing, the customer was never
    told the agents had gone for the night: the notice said nothing new to the waiting room."""
    agents_hours(open="00:00", close="06:20")  # the room's clock reads 06:13
    await wait_in_line(queue, "at-closing")
    await room.visit("at-closing")
    assert room.conversations.responses("at-closing") == ["utter_queue_nobody_available"]
    clock.advance(8 * 60)  # 06:21
    await mark_customer_seen(queue.redis, "at-closing", clock())
    await room.visit("at-closing")
    assert room.conversations.said["at-closing"][-1] == ("utter_queue_after_hours", {"opens_at": "11-16 00:00"})
    clock.advance(60)
    await mark_customer_seen(queue.redis, "at-closing", clock())
    await room.visit("at-closing")
    assert len(room.conversations.said["at-closing"]) == 2, "said once"
