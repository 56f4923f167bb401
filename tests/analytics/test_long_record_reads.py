"""The reports read the analytics record (``kefu report``, ``kefu peak``, ``kefu compare``, the live figures)
through ``read_whole_contacts``: one query, then every row turned into Python while the read's transaction
sits idle. The service's PostgreSQL sessions end a transaction left idle (bot/db/repository.py,
``STRANDED_TRANSACTION_S``, 30 s): at about 11 µs a row here, a large centre's quarter of events took longer
than that, and the report failed at the end ("server closed the connection unexpectedly")."""
from __future__ import annotations

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa

ROWS = 100_000  # about a second to read here: five times the limit below


def test_a_read_of_the_record_longer_than_a_stranded_transaction_is_given_returns_every_event(kefu_env, monkeypatch):
    from bot.analytics.contacts import STARTS
    from bot.db import repository
    from bot.db.schema import conversation_events
    from bot.outcomes.store import read_whole_contacts
    from tests.postgres import postgres_server_url

    if not postgres_server_url():
        pytest.skip("a connection to a database server (KEFU_TEST_POSTGRES_URL)")
    engine = repository.engine_for(kefu_env.database_url)
    day = dt.datetime(2026, 10, 1)
    with engine.begin() as conn:
        conn.execute(conversation_events.delete())
        conn.execute(conversation_events.insert(), [
            {"event_id": uuid.uuid4().hex, "conversation_id": f"conv-{n // 5}", "kind": "intent" if n % 5 else "contact_started",
             "channel": "webchat", "customer": f"customer:{n % 5000}",
             "data": {"intent": "fault_tv", "confidence": 0.93}, "at": day + dt.timedelta(seconds=n // 5)}
            for n in range(ROWS)])
    monkeypatch.setattr(repository, "STRANDED_TRANSACTION_S", 0.2)  # 30 s in service
    engine.dispose()  # new sessions, with that limit
    try:
        events = read_whole_contacts(engine, day, day + dt.timedelta(days=2), STARTS)
    finally:
        engine.dispose()
    assert len(events) == ROWS
    with engine.connect() as conn:  # and the next read finds the database as usual
        assert conn.execute(sa.select(sa.func.count()).select_from(conversation_events)).scalar() == ROWS
