"""A booked callback is answered when an agent rings it, at the time promised: its speed of answer runs
from that time to the agent's claim (README, "Follow-up, care and callback contacts"), not from the
request for a person that ended in the booking. Events as the queue and the contact worker record them
(the waiting room's booking, the worker's offer on the customer's conversation, the desk's claim and
close), written to a real database and reported by ``kefu report``."""
from __future__ import annotations

import datetime as dt

import pytest

from bot.db.repository import engine_for
from bot.outcomes.events import outcome_event
from bot.outcomes.store import write_events
from tests.analytics.test_report import report_of  # noqa: F401 (fixture)
from tests.handoff.conftest import redis, redis_url  # noqa: F401  the same real Redis fixtures

# 2026-03-09 19:00 in Beijing (the evening peak)
EVENING = dt.datetime(2026, 3, 9, 11, 0)


def at(minutes: float) -> dt.datetime:
    return EVENING + dt.timedelta(minutes=minutes)


def booked_then_rung(promised_after_min: float, late_s: float) -> list:
    """A web-chat customer asks for a person, waits 150 s, books a callback for ``promised_after_min``
    minutes on; the worker offers it at that time and an agent claims it ``late_s`` after it."""
    offered = promised_after_min
    claimed = offered + late_s / 60
    return [
        ("w-cb", at(0), "contact_started", {}),
        ("w-cb", at(0.1), "intent_seen", {"intent": "fault_tv_no_signal", "confidence": 0.9}),
        ("w-cb", at(0.5), "handoff_requested", {"skill": "tv", "priority": 0, "reason": "request_human"}),
        ("w-cb", at(0.5), "handoff_queued", {"skill": "tv", "priority": 0}),
        ("w-cb", at(3), "ticket_created", {"ticket_id": "TK000001", "kind": "callback"}),
        ("w-cb", at(3), "handoff_abandoned", {"skill": "tv", "wait_s": 150, "reason": "callback"}),
        ("w-cb", at(offered), "handoff_queued", {"skill": "tv", "priority": 0}),
        ("w-cb", at(claimed), "handoff_claimed", {"skill": "tv", "wait_s": late_s, "agent_id": "liu"}),
        ("w-cb", at(claimed + 4), "handoff_closed", {"skill": "tv", "wait_s": late_s, "handle_s": 240,
                                                     "agent_id": "liu", "disposition": "resolved"}),
    ]


def test_a_callback_rung_15_s_after_the_promised_time_waited_15_s_not_since_the_first_request(
        kefu_env, report_of):  # noqa: F811
    log = booked_then_rung(promised_after_min=40, late_s=15)
    write_events(engine_for(kefu_env.database_url), [
        outcome_event(c, kind, channel="webchat", at=moment, **data) for c, moment, kind, data in log])
    code, figures, _ = report_of("2026-03-09", "2026-03-09")
    assert code == 0
    assert figures[("overall", "", "answered")] == "1"
    assert figures[("overall", "", "abandoned")] == "0"  # choosing a callback is not giving up
    assert float(figures[("overall", "", "asa_s")]) == pytest.approx(15)
    assert float(figures[("overall", "", "service_level")]) == pytest.approx(1)


# 2026-03-09 21:30 and 2026-03-10 09:00 in Beijing
LATE_EVENING = dt.datetime(2026, 3, 9, 13, 30)
NEXT_MORNING = dt.datetime(2026, 3, 10, 1, 0)


def booked_overnight() -> list:
    """A caller asks for a person after hours at 21:30, books a callback for the hotline's next opening;
    the worker offers it at 09:00 the next day on the caller's conversation and an agent rings it 20 s later."""
    evening = lambda minutes: LATE_EVENING + dt.timedelta(minutes=minutes)  # noqa: E731
    morning = lambda seconds: NEXT_MORNING + dt.timedelta(seconds=seconds)  # noqa: E731
    return [
        ("ivr:night", evening(0), "contact_started", {}),
        ("ivr:night", evening(0.5), "handoff_requested", {"skill": "general", "reason": "caller_asked"}),
        ("ivr:night", evening(0.6), "ivr_nobody_available", {"skill": "general"}),
        ("ivr:night", evening(1.5), "ticket_created", {"ticket_id": "TK000002", "kind": "callback"}),
        ("ivr:night", evening(1.5), "callback_booked", {"ticket_id": "TK000002", "skill": "general"}),
        ("ivr:night", evening(2), "ivr_call_ended", {"reason": "hung_up", "path": ["main_menu", "callback"]}),
        ("ivr:night", morning(0), "handoff_queued", {"skill": "general", "priority": 0}),
        ("ivr:night", morning(20), "handoff_claimed", {"skill": "general", "wait_s": 20, "agent_id": "liu"}),
        ("ivr:night", morning(320), "handoff_closed", {"skill": "general", "wait_s": 20, "handle_s": 300,
                                                       "agent_id": "liu", "disposition": "resolved"}),
    ]


def test_a_callback_booked_in_the_evening_and_rung_next_morning_is_one_contact_of_the_evening(
        kefu_env, report_of):  # noqa: F811
    """The morning's part of the contact (the queue entry, claim and close) has no start of its own: the
    report of the next day and its wallboard counted it as a second contact, answered, with the handle
    time and the agent's close, though the evening's report counts the same contact."""
    from bot.analytics.live import today_figures

    write_events(engine_for(kefu_env.database_url), [
        outcome_event(c, kind, channel="ivr", at=moment, **data) for c, moment, kind, data in booked_overnight()])
    code, evening, _ = report_of("2026-03-09", "2026-03-09")
    assert code == 0
    assert (evening[("overall", "", "contacts")], evening[("overall", "", "answered")]) == ("1", "1")
    assert float(evening[("overall", "", "asa_s")]) == pytest.approx(20)
    code, morning, _ = report_of("2026-03-10", "2026-03-10")
    assert code == 0
    assert (morning[("overall", "", "contacts")], morning[("overall", "", "answered")]) == ("0", "0")
    assert morning[("overall", "", "aht_s")] == ""
    wallboard = today_figures(kefu_env.database_url, kefu_env.content_dir,
                              (NEXT_MORNING + dt.timedelta(minutes=10)).replace(tzinfo=dt.timezone.utc))
    assert (wallboard["day"], wallboard["contacts"], wallboard["answered"]) == ("2026-03-10", 0, 0)


async def test_a_callback_offered_late_is_answered_late_by_the_time_promised(kefu_env, redis):  # noqa: F811
    """Its speed of answer runs from the time promised to the customer (bot/contacts/offer.py, README
    "Follow-up, care and callback contacts"): offered 5 minutes after it (the worker's pass came late) and
    claimed 10 s later, it was recorded as answered in 10 s and the service level as kept. On a real
    Redis, through the contact worker's offer and the queue, recorded into the database."""
    from bot.analytics.contacts import split_contacts
    from bot.contacts.offer import offer_to_agents
    from bot.db.repository import Repository
    from bot.handoff.queue import HandoffQueue
    from bot.outcomes import recorder_for
    from tests.handoff.conftest import Clock
    from tests.handoff.test_callback_page_closed import booked_callback

    clock = Clock()
    queue = HandoffQueue(redis, clock)
    assert await offer_to_agents(queue, booked_callback("web-late", clock() - 300))
    clock.advance(10)
    await queue.claim_next("agent1")
    assert await recorder_for().flush(timeout=10)
    [contact] = split_contacts(Repository(kefu_env.database_url).events_for("web-late"))
    assert contact.answered_wait_s == pytest.approx(310, abs=0.01)
