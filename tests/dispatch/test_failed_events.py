"""A ticket event the dispatch system keeps refusing is given up, not retried for ever: it is listed
(`kefu dispatch events`), counted (`kefu_ticket_events{state="failed"}`), and holds its ticket's later
events until an operator resends or drops it (integration developer: "events are never given up on,
and a refused one holds its ticket's later events forever; no command to drop or resend one").

A loopback receiver stands for the dispatch system (tests/dispatch/conftest.py); real SQLite."""
from __future__ import annotations

import datetime as dt
import re

import redis.asyncio as aioredis

from bot.cli import main
from bot.db.repository import Repository
from bot.dispatch.delivery import GIVE_UP_AFTER, deliver_ticket_events, ticket_events_from_settings
from bot.observability.state import read_state
from bot.settings import get_settings
from tests.dispatch.test_status_api import new_repair
from tests.ops.test_state_metrics import values

HOUR = dt.timedelta(hours=1)


async def deliver(repository: Repository, now: dt.datetime) -> dict:
    return await deliver_ticket_events(repository, ticket_events_from_settings(get_settings()), now=now)


def event_ids(repository: Repository, ticket_id: str) -> list[int]:
    return [row["id"] for row in repository.outbound(status="pending", channel="dispatch", limit=1000)
            if row["recipient"] == ticket_id]


async def refused_three_times(repository: Repository, dispatch_system, now: dt.datetime) -> tuple[str, list[int]]:
    """A repair created and resolved; the dispatch system refuses its creation (HTTP 400) three times."""
    ticket_id = new_repair(repository)
    repository.move_ticket(ticket_id, "resolved")
    ids = event_ids(repository, ticket_id)
    dispatch_system.answers = [400, 400, 400]
    passes = [await deliver(repository, now + HOUR * hours) for hours in (0, 1, 2)]
    assert [p["retry"] for p in passes] == [1, 1, 0] and passes[-1]["given_up"] == 1
    return ticket_id, ids


def listed(capsys, *args: str) -> dict[int, str]:
    assert main(["dispatch", "events", *args]) == 0
    rows = re.findall(r"^(\d+) +(TK.*)$", capsys.readouterr().out, flags=re.MULTILINE)
    return {int(event_id): f"{event_id} {rest}" for event_id, rest in rows}


async def test_a_refused_event_is_given_up_listed_counted_and_holds_only_its_own_ticket(
        kefu_env, dispatch_system, capsys):
    repository = Repository(kefu_env.database_url)
    now = dt.datetime.utcnow()
    ticket_id, (created, resolved) = await refused_three_times(repository, dispatch_system, now)
    other = new_repair(repository)  # another ticket's events are not held

    later = await deliver(repository, now + HOUR * 5)  # the dispatch system would take it now

    assert later == {"sent": 1, "retry": 0, "waiting": 1, "given_up": 0}
    assert [e["ticket"]["ticket_id"] for e in dispatch_system.events] == [other]
    rows = listed(capsys)
    assert set(rows) == {created, resolved}
    assert rows[created].split()[1:5] == [ticket_id, "ticket_created", "failed", "3"]
    assert "HTTP 400" in rows[created]
    assert rows[resolved].split()[1:4] == [ticket_id, "ticket_status_changed", "held"]
    assert set(listed(capsys, "--failed")) == {created}
    unreachable = aioredis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    found = values(await read_state(unreachable, repository))
    await unreachable.close()
    assert found[("kefu_ticket_events", (("state", "failed"),))] == 1
    assert found[("kefu_ticket_events", (("state", "pending"),))] == 1


async def test_a_resent_event_goes_out_on_the_next_pass_followed_by_its_tickets_later_ones(
        kefu_env, dispatch_system, capsys):
    repository = Repository(kefu_env.database_url)
    now = dt.datetime.utcnow()
    ticket_id, (created, resolved) = await refused_three_times(repository, dispatch_system, now)

    assert main(["dispatch", "resend", str(created)]) == 0
    after = await deliver(repository, now + HOUR * 2)  # at once: not at some retry time

    assert after["sent"] == 2
    assert [(e["event_id"], e["type"]) for e in dispatch_system.events] == [
        (f"outbox-{created}", "ticket_created"), (f"outbox-{resolved}", "ticket_status_changed")]
    assert listed(capsys) == {}


async def test_a_dropped_event_lets_its_tickets_next_event_go_out_and_is_never_sent(
        kefu_env, dispatch_system, capsys):
    repository = Repository(kefu_env.database_url)
    now = dt.datetime.utcnow()
    ticket_id, (created, resolved) = await refused_three_times(repository, dispatch_system, now)

    assert main(["dispatch", "drop", f"outbox-{created}"]) == 0  # as the dispatch system saw its id
    after = await deliver(repository, now + HOUR * 2)
    capsys.readouterr()
    resent = main(["dispatch", "resend", str(created)])

    assert after["sent"] == 1
    assert [(e["event_id"], e["ticket"]["status"]) for e in dispatch_system.events] == [
        (f"outbox-{resolved}", "resolved")]
    assert resent == 1 and "out of order" in capsys.readouterr().err
    assert listed(capsys) == {}


async def test_an_event_failing_for_a_day_is_given_up_but_busy_answers_are_not_refusals(kefu_env, dispatch_system):
    repository = Repository(kefu_env.database_url)
    new_repair(repository)
    dispatch_system.answers = [429, 408, 429, 503]  # busy, timed out, busy, down
    now = dt.datetime.utcnow()

    early = [await deliver(repository, now + HOUR * hours) for hours in (0, 1, 2)]
    last = await deliver(repository, now + GIVE_UP_AFTER)

    assert [p["retry"] for p in early] == [1, 1, 1] and last["given_up"] == 1
    assert not dispatch_system.events


async def test_an_event_being_sent_holds_its_tickets_next_one(kefu_env, dispatch_system):
    """A worker claimed a ticket's first event and has not finished: another pass must not send the
    second one ahead of it."""
    import sqlalchemy as sa

    from bot.db.schema import outbox

    repository = Repository(kefu_env.database_url)
    ticket_id = new_repair(repository)
    repository.move_ticket(ticket_id, "resolved")
    first, second = event_ids(repository, ticket_id)
    with repository.engine.begin() as conn:
        payload = conn.execute(sa.select(outbox.c.payload).where(outbox.c.id == first)).scalar_one()
        conn.execute(outbox.update().where(outbox.c.id == first).values(
            status="sending", payload={**payload, "claimed_at": dt.datetime.utcnow().isoformat()}))

    meanwhile = await deliver(repository, dt.datetime.utcnow())

    assert meanwhile["sent"] == 0 and not dispatch_system.events
