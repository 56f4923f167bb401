"""Outcome events parked in Redis during a database outage outlive the process that recorded them.

A real Redis (``redis_url``: REDIS_URL's server in CI, else an embedded one) and a real database
that is down at first: SQLite in a folder not yet made, or (CI) a PostgreSQL database not yet created.
"""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections import Counter

import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa

from bot.db.migrate import upgrade
from bot.db.repository import engine_for
from bot.db.schema import conversation_events
from bot.outcomes import outcome_event
from bot.outcomes.pending import PendingEvents
from bot.outcomes.recorder import OutcomeRecorder
from bot.outcomes.store import write_events
from tests.conftest import PROJECT_ROOT
from tests.handoff.conftest import redis_url  # noqa: F401 - the real Redis fixture
from tests.postgres import postgres_server_url


class DownDatabase:
    """A database URL that refuses connections until ``bring_back``."""

    def __init__(self, kind: str, tmp_path) -> None:
        self.kind = kind
        if kind == "sqlite":
            self.folder = tmp_path / f"down-{uuid.uuid4().hex[:6]}"
            self.url = f"sqlite:///{self.folder}/kefu.sqlite3"
        else:
            self.name = f"kefu_test_down_{uuid.uuid4().hex[:10]}"
            self.url = str(sa.engine.make_url(postgres_server_url()).set(database=self.name))

    def bring_back(self) -> None:
        """The database returns with its schema (made by the migrations, as ``kefu run`` makes it)."""
        if self.kind == "sqlite":
            ready = self.folder.with_name(f"{self.folder.name}-ready")
            ready.mkdir()
            upgrade(engine_for(f"sqlite:///{ready}/kefu.sqlite3"))
            ready.rename(self.folder)
            return
        engine = sa.create_engine(postgres_server_url(), isolation_level="AUTOCOMMIT", future=True)
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{self.name}"'))
        engine.dispose()
        upgrade(engine_for(self.url))

    def rows(self) -> list[dict]:
        with engine_for(self.url).connect() as conn:
            return [dict(r) for r in conn.execute(sa.select(conversation_events)).mappings()]


@pytest.fixture(params=["sqlite", "postgresql"])
def down_database(request, tmp_path):
    if request.param == "postgresql" and not postgres_server_url():
        pytest.skip("no PostgreSQL server for the tests (KEFU_TEST_POSTGRES_URL)")
    return DownDatabase(request.param, tmp_path)


# A Kefu process that records events while the database is down, then dies without a word in the
# middle of a drain attempt: no flush, no shutdown, its memory gone (os._exit), its drain lock held
# (CI once caught a dying process there by chance, and the lock then outlived the newcomer's patience).
DYING_PROCESS = """
import asyncio, json, os, sys
from bot.outcomes import outcome_event
from bot.outcomes.pending import LOCK_TTL_MS
from bot.outcomes.recorder import OutcomeRecorder

async def main(database_url, redis_url, count):
    recorder = OutcomeRecorder(database_url, redis_url)
    for n in range(count):
        await recorder.record(outcome_event(f"c{n % 3}", "intent_seen", channel="rest", intent="query_bill", n=n))
    print(json.dumps({"in_memory": recorder.buffered, "waiting": await recorder.waiting()}), flush=True)
    await recorder.parked.client.set(recorder.parked.lock_key, "drainer-that-died", px=LOCK_TTL_MS)
    os._exit(0)

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


def run_dying_process(database_url: str, redis_url: str, count: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    done = subprocess.run([sys.executable, "-c", DYING_PROCESS, database_url, redis_url, str(count)],
                          cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


async def test_events_of_a_process_that_died_in_an_outage_land_exactly_once_when_the_database_returns(
        down_database, redis_url):  # noqa: F811
    died = await asyncio.to_thread(run_dying_process, down_database.url, redis_url, 40)
    assert died == {"in_memory": 0, "waiting": 40}, "every event parked in Redis, none only in memory"

    down_database.bring_back()
    newcomer = OutcomeRecorder(down_database.url, redis_url)  # another process: nothing in its memory
    await newcomer.record(outcome_event("c9", "contact_started", channel="webchat"))  # its first event
    assert await newcomer.flush(timeout=30)

    rows = down_database.rows()
    numbers = [r["data"]["n"] for r in rows if r["kind"] == "intent_seen"]
    assert sorted(numbers) == list(range(40)), "each parked event exactly once"
    assert [r["data"]["n"] for r in sorted(rows, key=lambda r: r["id"]) if r["conversation_id"] == "c0"] == \
        list(range(0, 40, 3)), "in the order they happened"
    assert [r["kind"] for r in rows if r["conversation_id"] == "c9"] == ["contact_started"]
    assert await newcomer.waiting() == 0


async def test_two_processes_draining_at_once_write_every_event_once(tmp_path, redis_url):  # noqa: F811
    url = f"sqlite:///{tmp_path}/kefu.sqlite3"
    upgrade(engine_for(url))
    events = [outcome_event(f"c{n % 7}", "intent_seen", intent="query_bill", n=n) for n in range(1300)]
    client = aioredis.Redis.from_url(redis_url)
    try:
        await PendingEvents(client, url).park(events)  # more than two batches
    finally:
        await client.close()

    first, second = OutcomeRecorder(url, redis_url), OutcomeRecorder(url, redis_url)
    await asyncio.gather(first.drain(), second.drain())
    assert all(await asyncio.gather(first.flush(timeout=60), second.flush(timeout=60)))

    with engine_for(url).connect() as conn:
        stored = Counter(conn.execute(sa.select(conversation_events.c.event_id)).scalars())
    assert len(stored) == 1300 and set(stored.values()) == {1}


async def test_a_batch_written_just_before_its_drainer_died_is_not_stored_twice(tmp_path, redis_url):  # noqa: F811
    url = f"sqlite:///{tmp_path}/kefu.sqlite3"
    upgrade(engine_for(url))
    events = [outcome_event("c1", "csat_given", channel="webchat", score=1 + n % 5, n=n) for n in range(10)]
    client = aioredis.Redis.from_url(redis_url)
    try:
        await PendingEvents(client, url).park(events)
    finally:
        await client.close()
    write_events(engine_for(url), events[:4])  # written, but the drainer died before taking them off the list

    recorder = OutcomeRecorder(url, redis_url)
    await recorder.drain()
    assert await recorder.flush(timeout=30)
    with engine_for(url).connect() as conn:
        numbers = [d["n"] for d in conn.execute(sa.select(conversation_events.c.data)).scalars()]
    assert sorted(numbers) == list(range(10))
