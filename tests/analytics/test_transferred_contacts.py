"""A conversation an agent transferred to another group is not resolved until someone closes it there.

Found in review: a customer the first agent passed on (转接, disposition ``transfer:<group>``) who then
gave up in the second group's queue counted as resolved by an agent at first contact — the same as a
customer an agent closed as 已解决 — raising FCR at the peak, when second queues are long. The real
handoff queue (real Redis) records through the outcome recorder into the real database.
"""
from __future__ import annotations

from bot.analytics.contacts import split_contacts
from bot.analytics.kpis import figures
from bot.db.repository import Repository
from bot.handoff.queue import HandoffQueue, HandoffRequest
from bot.handoff.rules import load_rules
from bot.outcomes import recorder_for
from bot.outcomes.recorder import record
from tests.conftest import PROJECT_ROOT
from tests.analytics.test_report import report_of  # noqa: F401 (fixture)
from tests.handoff.conftest import Clock, redis, redis_url  # noqa: F401  the same real Redis fixtures


async def served_then_transferred(redis, conversation_id: str, then: str) -> None:  # noqa: F811
    clock = Clock()
    queue = HandoffQueue(redis, clock, rules=load_rules(PROJECT_ROOT / "content" / "handoff.yml"))
    await record(conversation_id, "contact_started", channel="webchat")
    await record(conversation_id, "intent_seen", channel="webchat", intent="query_bill", confidence=0.9)
    await record(conversation_id, "handoff_requested", channel="webchat", skill="tv", priority=0,
                 reason="request_human")
    await queue.enqueue(HandoffRequest(conversation_id, "webchat", "tv", 0, None))
    clock.advance(30)
    await queue.claim_next("agent1")
    clock.advance(120)
    await queue.transfer(conversation_id, "agent1", "billing")
    clock.advance(200)
    if then == "gave_up":
        await queue.abandon(conversation_id, "customer_left")
    else:
        await queue.claim_next("agent2")
        clock.advance(90)
        await queue.close(conversation_id, "agent2", "resolved")
    assert await recorder_for().flush(timeout=10)


async def test_a_customer_who_gave_up_in_the_queue_they_were_transferred_to_was_not_resolved(kefu_env, redis):  # noqa: F811
    await served_then_transferred(redis, "moved-on", "gave_up")
    await served_then_transferred(redis, "moved-and-served", "served")
    repository = Repository(kefu_env.database_url)
    contacts = {c: split_contacts(repository.events_for(c))[0] for c in ("moved-on", "moved-and-served")}
    assert contacts["moved-and-served"].how == "agent"
    assert contacts["moved-on"].how != "agent"
    f = figures(list(contacts.values()), sl_seconds=20)
    assert f.fcr_24h == 0.5  # only the one the second agent closed as resolved
    assert f.answered == 2  # both were answered by the first agent, after 30 s


async def test_each_agent_of_a_transferred_conversation_has_their_own_handle_time_in_the_report(
        kefu_env, redis, report_of):  # noqa: F811
    """Found in review: the per-agent table gave a transferred conversation to its last agent with both
    agents' handle times added up (agent2's AHT 210 s for 90 s of work), and the agent who handled it
    first, for 120 s, had no row at all."""
    import datetime as dt

    await served_then_transferred(redis, "moved-and-served", "served")
    await record("moved-and-served", "csat_given", channel="webchat", score=5)
    assert await recorder_for().flush(timeout=10)
    today = dt.datetime.now(dt.timezone.utc).astimezone(dt.timezone(dt.timedelta(hours=8))).date().isoformat()
    code, figures, _ = report_of(today, today)
    assert code == 0
    assert float(figures[("agent", "agent2", "aht_s")]) == 90 and figures[("agent", "agent2", "csat_average")] == "5.0"
    assert float(figures[("agent", "agent1", "aht_s")]) == 120 and figures[("agent", "agent1", "csat_average")] == ""
    assert figures[("agent", "agent1", "contacts")] == figures[("agent", "agent2", "contacts")] == "1"


async def test_a_transferred_conversation_is_one_handoff_on_the_metrics(kefu_env, redis):  # noqa: F811
    """``kefu_handoffs_total`` counts conversations queued for an agent (README, "Metrics"): found in review,
    a transfer — and an agent signing out, which puts their conversations back the same way — queued the
    conversation again and counted it as another handoff, so the dashboard's self-help fixes against
    handoffs fell at every shift change."""
    from prometheus_client import REGISTRY

    def handoffs() -> float:
        return REGISTRY.get_sample_value("kefu_handoffs_total", {"channel": "webchat"}) or 0.0

    before = handoffs()
    await served_then_transferred(redis, "moved-and-served", "served")
    assert handoffs() == before + 1
