"""An export reads the customer's Redis records (their trackers; a SCAN of every web chat message set aside,
over the whole keyspace) between its database statements. The service's PostgreSQL sessions end a
transaction left idle (bot/db/repository.py, ``STRANDED_TRANSACTION_S``): an export must not hold one open
while it reads Redis, or a large Redis made every export fail half-way."""
from __future__ import annotations

import time

import pytest

from tests.handoff.conftest import redis_url  # noqa: F401  the real Redis of the handoff tests
from tests.privacy.test_customer_requests import env, kefu  # noqa: F401  the seeded stores


@pytest.fixture
def short_idle_limit(env, monkeypatch):  # noqa: F811
    """The seeded stores, on PostgreSQL sessions that end a transaction left idle for 1 s (30 s in service)."""
    from bot.db import repository
    from tests.postgres import postgres_server_url

    if not postgres_server_url():
        pytest.skip("a connection to a database server (KEFU_TEST_POSTGRES_URL)")
    settings, _client, _seeded = env
    monkeypatch.setattr(repository, "STRANDED_TRANSACTION_S", 1)
    repository.engine_for(settings.database_url).dispose()  # new sessions, with that limit
    yield settings
    repository.engine_for(settings.database_url).dispose()


def test_an_export_whose_redis_scan_takes_longer_than_a_stranded_transaction_is_given_is_made(
        short_idle_limit, monkeypatch):
    from bot.privacy import export

    scanned = export.webchat_set_aside

    def long_scan(*args):
        time.sleep(2)  # SCAN through a Redis of millions of conversations' keys
        return scanned(*args)

    monkeypatch.setattr(export, "webchat_set_aside", long_scan)
    assert kefu("customer", "export", "13800000001") == 0
    [folder] = (short_idle_limit.data_dir / "exports").iterdir()
    assert (folder / "customer.json").is_file()


def test_an_erasure_whose_redis_reads_take_longer_than_a_stranded_transaction_is_given_is_made(
        short_idle_limit, monkeypatch):
    """The erasure's count of what it would reach (``plan``) read the customer's trackers from Redis between its
    database statements, as the export did: a slow Redis ended its transaction and the erasure failed
    before it began."""
    from bot.privacy import erase

    read = erase.read_tracker
    slow = []

    def slow_read(*args):
        if not slow:
            slow.append(True)
            time.sleep(2)  # a Redis busy or far away, once
        return read(*args)

    monkeypatch.setattr(erase, "read_tracker", slow_read)
    assert kefu("customer", "erase", "13800000001", "--yes") == 0
    assert slow  # the tracker was read, slowly
