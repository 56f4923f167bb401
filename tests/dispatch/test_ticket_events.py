"""Tickets leave Kefu for the dispatch system: each creation and status change is posted to
``KEFU_DISPATCH_EVENTS_URL``, signed, at least once (retried after a failed attempt), in order per
ticket, with an ``event_id`` to recognise a repeat (integrator's finding 6: tickets could not leave
Kefu but by polling its tables).

A loopback receiver stands for the dispatch system and checks every signature; real SQLite."""
from __future__ import annotations

import datetime as dt

from bot.db.repository import Repository
from bot.dispatch.delivery import deliver_ticket_events, ticket_events_from_settings
from bot.outbound.outbox_rows import STALE_SENDING, retry_delay
from bot.outbound.worker import deliver_pending
from bot.settings import get_settings
from tests.dispatch.test_status_api import new_repair, post


async def deliver(repository: Repository, now: dt.datetime | None = None) -> dict:
    return await deliver_ticket_events(repository, ticket_events_from_settings(get_settings()), now=now)


async def test_a_created_ticket_reaches_the_dispatch_system_once_signed_though_the_first_attempt_fails(
        kefu_env, dispatch_system):
    repository = Repository(kefu_env.database_url)
    dispatch_system.answers = [503]  # the dispatch system is restarting
    ticket_id = new_repair(repository)
    now = dt.datetime.utcnow()

    first = await deliver(repository, now)
    too_soon = await deliver(repository, now + dt.timedelta(seconds=5))
    retried = await deliver(repository, now + retry_delay(1) + dt.timedelta(seconds=1))
    after = await deliver(repository, now + dt.timedelta(hours=2))

    # not due again: left in the database, not read (bot/dispatch/delivery.py), so not even counted as waiting
    assert first == {"sent": 0, "retry": 1, "waiting": 0, "given_up": 0}
    assert too_soon == {"sent": 0, "retry": 0, "waiting": 0, "given_up": 0}
    assert retried["sent"] == 1 and after == {"sent": 0, "retry": 0, "waiting": 0, "given_up": 0}
    assert dispatch_system.bad_signatures == 0 and len(dispatch_system.events) == 1
    event = dispatch_system.events[0]
    assert event["type"] == "ticket_created" and event["event_id"] == event["header_event_id"]
    ticket = event["ticket"]
    customer = repository.find_customer(phone="13800000001")
    assert ticket["ticket_id"] == ticket_id and ticket["kind"] == "fault" and ticket["status"] == "open"
    assert ticket["customer_key"] == f"customer:{customer.id}" and ticket["account_number"] == customer.account_number
    assert ticket["details"] == {"fault_type": "tv"} and ticket["external_ref"] is None


async def test_status_changes_follow_in_order_with_the_job_number_and_a_repeat_is_recognisable(
        kefu_env, dispatch_system, kefu_url):
    repository = Repository(kefu_env.database_url)
    ticket_id = new_repair(repository)
    await deliver(repository)
    dispatch_system.answers = [500]  # the resolution's first attempt fails ...
    await post(kefu_url, ticket_id, {"status": "resolved", "external_ref": "FSM-9", "idempotency_key": "k"})
    repository.move_ticket(ticket_id, "customer_told", note="wang: told on the phone")  # ... an agent's move follows
    now = dt.datetime.utcnow()

    held = await deliver(repository, now)
    # the earlier change waits for its retry, so this pass reads the later one alone: it still waits
    still_held = await deliver(repository, now + dt.timedelta(seconds=5))
    done = await deliver(repository, now + dt.timedelta(hours=2))

    assert held == {"sent": 0, "retry": 1, "waiting": 1, "given_up": 0}  # the later change waits for the earlier one
    assert still_held == {"sent": 0, "retry": 0, "waiting": 1, "given_up": 0}
    assert done["sent"] == 2
    changes = [(e["type"], e["ticket"]["previous_status"], e["ticket"]["status"]) for e in dispatch_system.events]
    assert changes == [("ticket_created", None, "open"), ("ticket_status_changed", "open", "resolved"),
                       ("ticket_status_changed", "resolved", "customer_told")]
    assert [e["ticket"]["external_ref"] for e in dispatch_system.events[1:]] == ["FSM-9", "FSM-9"]
    assert len({e["event_id"] for e in dispatch_system.events}) == 3


async def test_an_event_whose_sender_died_mid_send_is_sent_again_with_the_same_id(kefu_env, dispatch_system):
    import sqlalchemy as sa

    from bot.db.schema import outbox

    repository = Repository(kefu_env.database_url)
    new_repair(repository)
    with repository.engine.begin() as conn:  # a worker claimed it and was killed before it finished
        row = conn.execute(sa.select(outbox).where(outbox.c.channel == "dispatch")).mappings().one()
        conn.execute(outbox.update().where(outbox.c.id == row["id"]).values(
            status="sending", payload={**row["payload"], "claimed_at": dt.datetime.utcnow().isoformat()}))

    soon = await deliver(repository)
    later = await deliver(repository, dt.datetime.utcnow() + STALE_SENDING + dt.timedelta(seconds=1))

    assert soon["sent"] == 0 and later["sent"] == 1
    assert [e["event_id"] for e in dispatch_system.events] == [f"outbox-{row['id']}"]


async def test_the_customers_outbox_worker_never_sends_ticket_events(kefu_env, dispatch_system):
    """Ticket events wait in the same outbox table, but only their own delivery sends them (signed, in
    order per ticket, retried for a day): the customers' worker takes none, even given an adapter of
    that name, and sends the customer's text behind them."""
    from bot.notify import Notifier

    class Sms(Notifier):
        sent: list = []

        async def send(self, to, message):
            self.sent.append(to)

        async def send_selfhelp(self, to, channel, entry):
            raise NotImplementedError

    repository = Repository(kefu_env.database_url)
    for _ in range(3):
        new_repair(repository)
    repository.add_outbound(channel="sms", recipient="13800000002", kind="opt_out", payload={"text": "已退订"})

    counts = await deliver_pending(repository, {"sms": Sms(), "dispatch": Sms()}, limit=3)

    assert counts["sent"] == 1 and Sms.sent == ["13800000002"]
    assert len(repository.outbound(status="pending", channel="dispatch")) >= 3


async def test_ticket_events_waiting_are_not_in_the_sms_backlog(kefu_env, dispatch_system):
    """On-call: with the dispatch system down, the "Outbox backlog (SMS / WeChat)" panel rose as if
    texts were not going out. Ticket events are counted by kefu_ticket_events only."""
    import redis.asyncio as aioredis

    from bot.observability.state import read_state
    from tests.ops.test_state_metrics import values

    repository = Repository(kefu_env.database_url)
    dispatch_system.answers = [503] * 10  # down: the events are retried later, still pending
    for _ in range(2):
        repository.move_ticket(new_repair(repository), "resolved")
    assert (await deliver(repository))["retry"] == 2  # each ticket's first event tried, its second waits
    repository.add_outbound(channel="sms", recipient="13800000002", kind="opt_out", payload={})

    unreachable = aioredis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    found = values(await read_state(unreachable, repository))
    await unreachable.close()

    assert found[("kefu_outbox_backlog", ())] == 1
    assert found[("kefu_ticket_events", (("state", "pending"),))] == 4


async def test_without_a_receiver_no_ticket_event_is_queued(kefu_env):
    repository = Repository(kefu_env.database_url)
    ticket_id = new_repair(repository)
    repository.move_ticket(ticket_id, "resolved")
    assert not repository.outbound(channel="dispatch")


def test_an_events_url_without_its_secret_stops_kefu_run_with_the_setting_named(kefu_env):
    """`kefu run` calls this before starting anything and stops (exit code 2) on the error."""
    import pytest

    from bot.notify import NotifyError
    from bot.settings import from_environment

    settings = from_environment(dict(kefu_env.env, KEFU_DISPATCH_EVENTS_URL="https://fsm.example.cn/kefu"))
    with pytest.raises(NotifyError, match="KEFU_DISPATCH_EVENTS_SECRET"):
        ticket_events_from_settings(settings)


async def test_a_visits_new_time_reaches_the_dispatch_system(kefu_env, dispatch_system):
    """The engineer's appointment moved (actions/visits.py sets details.visit_time): the dispatch system hears."""
    repository = Repository(kefu_env.database_url)
    customer = repository.find_customer(phone="13800000001")
    ticket_id = repository.create_ticket(kind="visit", customer_id=customer.id, summary="上门",
                                         details={"visit_time": "12月5日上午"})
    repository.update_ticket_details(ticket_id, {"visit_time": "12月6日下午"}, note="visit moved")

    await deliver(repository)

    updated = dispatch_system.events[-1]
    assert updated["type"] == "ticket_updated" and updated["ticket"]["status"] == "open"
    assert updated["ticket"]["details"]["visit_time"] == "12月6日下午"


async def test_a_receiver_that_does_not_answer_costs_one_attempt_a_pass(kefu_env, dispatch_system):
    """Every event goes to the one receiver: when it does not answer, waiting out the timeout for each
    event held the pass (and the customers' texts, drained on the same thread) for minutes."""
    from bot.outbound.rest_callback import RestCallback

    repository = Repository(kefu_env.database_url)
    for _ in range(2):
        new_repair(repository)
    silent = RestCallback("http://127.0.0.1:9/events", "s3cret", name="ticket event")

    counts = await deliver_ticket_events(repository, silent)

    assert counts["retry"] == 1 and counts["sent"] == 0
    assert len(repository.outbound(status="pending", channel="dispatch", limit=1000)) >= 2
