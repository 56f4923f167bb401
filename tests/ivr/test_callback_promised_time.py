"""A callback booked at the menu names the time it is promised for, as the chat's does.

Found on a live call: at night a caller who pressed 3 (预约人工客服回电) and keyed a number heard
客服人员会尽快给您回电, though the callback was booked for the hotline's next opening. The chat and the
hold keys promise ``callback_within_hours`` (content/waiting_room.yml) from now, or from the next
opening (content/ivr.yml ``hours``) when closed. Shipped flows, real Redis and SQLite.
"""
from __future__ import annotations

import datetime as dt
import uuid

from bot.db.repository import Repository
from bot.ivr.events import CallStart, KeyPress, Say
from bot.ivr.flow_tests import ScriptedQueue
from tests.handoff.conftest import redis, redis_url  # noqa: F401
from tests.ivr.test_callback_not_claimed import shipped_flows


async def booked_at(kefu_env, redis, when: str, first_key: str):  # noqa: F811
    """What a caller from an unknown line hears after keying 13900002222# for a callback, and its ticket."""
    repository = Repository(kefu_env.database_url)
    engine = shipped_flows(kefu_env, redis, repository, handoff=ScriptedQueue(wait_s=60, agents_online=False),
                           clock=lambda: dt.datetime.fromisoformat(when))
    call_id = f"main-{uuid.uuid4().hex[:8]}"
    await engine.start(CallStart(call_id=call_id, caller="", flow="main"))
    heard = []
    for key in first_key + "13900002222#":
        heard += [c.text for c in await engine.handle(call_id, KeyPress(key)) if isinstance(c, Say)]
    await engine.end(call_id, "test")
    tickets = [t for t in repository.tickets_since() if t.get("conversation_id") == f"ivr:{call_id}"]
    return heard, tickets


async def test_a_night_caller_hears_the_promised_time_after_the_next_opening(kefu_env, redis):  # noqa: F811
    # Monday 23:30 in Beijing: agents back at 08:00, so promised by 10:00 the next day (2 hours).
    heard, tickets = await booked_at(kefu_env, redis, "2026-11-23T23:30:00+08:00", "3")
    assert any("已为您预约回电" in text for text in heard), heard
    assert any("11-24 10:00" in text for text in heard), heard
    assert not any("尽快" in text for text in heard), heard
    assert [t["kind"] for t in tickets] == ["callback"]
    # The desk shows the same time as its work item's "by" (bot/handoff/work_item_view.py).
    assert tickets[0]["details"]["callback_by"].startswith("2026-11-24T10:00"), tickets[0]["details"]


async def test_a_day_caller_hears_a_time_within_the_hours(kefu_env, redis):  # noqa: F811
    # Monday 10:00, nobody signed in: 0 for an agent, then 1 for the callback; promised by 12:00.
    heard, tickets = await booked_at(kefu_env, redis, "2026-11-23T10:00:00+08:00", "01")
    assert any("已为您预约回电" in text and "12:00" in text for text in heard), heard
    assert tickets[0]["details"]["callback_by"].startswith("2026-11-23T12:00"), tickets[0]["details"]
