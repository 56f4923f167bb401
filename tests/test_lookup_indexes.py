"""The lookups that run all day find their rows by an index, not by reading the whole table (review:
every key a caller pressed on a Kefu call, every status callback of the carrier, read the whole contacts
table; every outbox pass read every pending row, those waiting for a later retry too).

Each test runs the code's own query (caught as it goes to the database) through the database's planner,
on a database built by the migrations: on SQLite and, when KEFU_TEST_POSTGRES_URL is set, on PostgreSQL.
"""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt

import pytest
import sqlalchemy as sa

from bot.contacts.schedule import Schedule
from bot.db import migrate
from bot.db.repository import Repository
from bot.db.schema import outbox
from bot.dispatch.delivery import deliver_ticket_events
from bot.outbound.rest_callback import RestCallback
from bot.outbound.sms import SmsGateway
from bot.outbound.worker import deliver_pending
from tests.postgres import fresh_database_url, postgres_server_url

NOW = dt.datetime(2026, 12, 4, 12, 0)
NOWHERE = "http://127.0.0.1:9"  # never asked: no row in these tests is due


@pytest.fixture(params=["sqlite", "postgresql"])
def repository(request, tmp_path) -> Repository:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'kefu.sqlite3'}"
    elif postgres_server_url():
        url = fresh_database_url(postgres_server_url())
    else:
        pytest.skip("no PostgreSQL server (KEFU_TEST_POSTGRES_URL)")
    engine = sa.create_engine(url, future=True)
    migrate.upgrade(engine)
    engine.dispose()
    repo = Repository(url)
    yield repo
    repo.engine.dispose()


@contextlib.contextmanager
def statements(engine, table: str):
    """The SELECTs reading ``table`` that run inside the block, with their parameters."""
    caught: list[tuple[str, object]] = []

    def catch(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and f"FROM {table}" in statement:
            caught.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", catch)
    try:
        yield caught
    finally:
        sa.event.remove(engine, "before_cursor_execute", catch)


def plan(engine, statement: str, parameters, *, no_table_scans: bool = False) -> str:
    """The planner's plan for the statement. ``no_table_scans``: PostgreSQL reads a table of a few rows
    whole whatever its indexes; this asks whether it *can* use one."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            return "\n".join(row[3] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters))
        if no_table_scans:
            conn.exec_driver_sql("SET enable_seqscan = off")
        return "\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {statement}", parameters))


def test_a_callers_key_press_and_the_carriers_callbacks_find_their_contact_by_an_index(repository):
    schedule = Schedule(repository)
    with statements(repository.engine, "contacts") as caught:
        assert schedule.by_token("a" * 32) is None  # what the call's media stream carries
        assert schedule.mark_carrier_status("CA0001", "completed", NOW) is None
        assert schedule.call_in_progress("CA0001", NOW) is None
    by_token, final_status, ringing = (plan(repository.engine, *q, no_table_scans=True) for q in caught)
    assert "ix_contacts_attempt_token" in by_token, by_token
    assert "ix_contacts_carrier_call" in final_status, final_status
    assert "ix_contacts_carrier_call" in ringing, ringing


def fill(repository: Repository, channel: str, waiting: int, sent: int) -> None:
    """``waiting`` rows whose next try is half an hour away (a gateway's bad minute), ``sent`` old ones."""
    later = {"text": "您的报修单已受理。", "attempts": 3, "retry_at": (NOW + dt.timedelta(minutes=30)).isoformat()}
    with repository.engine.begin() as conn:
        for status, count, payload in (("pending", waiting, later), ("sent", sent, {"text": "您的报修单已受理。"})):
            conn.execute(outbox.insert(), [{"channel": channel, "recipient": f"T{n % 50}", "kind": "k",
                                            "payload": payload, "status": status} for n in range(count)])
        if repository.engine.dialect.name == "postgresql":
            conn.exec_driver_sql("ANALYZE outbox")  # what autovacuum does after such a load


def page_plan(repository: Repository, caught) -> str:
    def values(parameters):
        return list(parameters.values()) if isinstance(parameters, dict) else list(parameters)

    pages = [q for q in caught if "ORDER BY outbox.id" in q[0] and "pending" in values(q[1])]
    assert pages, caught
    return plan(repository.engine, *pages[0])


def test_an_outbox_pass_reads_only_the_texts_due_not_those_waiting_for_a_later_retry(repository):
    fill(repository, "sms", waiting=5000, sent=5000)
    with statements(repository.engine, "outbox") as caught:
        counts = asyncio.run(deliver_pending(repository, {"sms": SmsGateway(NOWHERE, "k", "Kefu")}, now=NOW))
    assert counts["sent"] == counts["retry"] == counts["waiting"] == 0
    used = page_plan(repository, caught)
    assert "ix_outbox_due" in used and ("<expr>" in used or "CASE WHEN" in used), used


def test_a_ticket_event_pass_reads_only_the_events_due_not_those_waiting_for_a_later_retry(repository):
    """Dispatch delivery read every pending event on each pass, due or not."""
    fill(repository, "dispatch", waiting=5000, sent=5000)
    sender = RestCallback(f"{NOWHERE}/events", "secret", name="ticket event", settings_named="-")
    with statements(repository.engine, "outbox") as caught:
        counts = asyncio.run(deliver_ticket_events(repository, sender, now=NOW))
    assert counts == {"sent": 0, "retry": 0, "waiting": 0, "given_up": 0}  # it used to read (and count) 5000
    used = page_plan(repository, caught)
    assert "ix_outbox_due" in used and ("<expr>" in used or "CASE WHEN" in used), used
