"""Database errors in the logs say why and where (SRE tester, finding 10): ``metrics.state.database_failed
error=OperationalError`` did not say "connection refused to host:port". The password never shows."""
from __future__ import annotations

import logging

import redis.asyncio as aioredis
import sqlalchemy as sa

from bot.db.errors import database_error
from bot.db.repository import Repository
from bot.embedded_redis import free_port
from bot.observability.state import read_state


async def test_a_database_that_is_down_is_logged_with_the_reason_and_host(kefu_env, caplog):
    port = free_port()  # nothing listens: PostgreSQL stopped
    repository = Repository(kefu_env.database_url)
    repository.engine = sa.create_engine(f"postgresql://kefu:s3cret-pw@127.0.0.1:{port}/kefu")
    unreachable = aioredis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    with caplog.at_level(logging.WARNING):
        await read_state(unreachable, repository)
    await unreachable.close()
    lines = [r.getMessage() for r in caplog.records if "metrics.state.database_failed" in r.getMessage()]
    assert lines, [r.getMessage() for r in caplog.records]
    assert "OperationalError: " in lines[0] and f"127.0.0.1:{port}" in lines[0], lines[0]
    assert "refused" in lines[0].lower(), lines[0]
    assert all("s3cret-pw" not in r.getMessage() for r in caplog.records)


def test_a_password_in_the_drivers_message_is_masked():
    class Driver(Exception):
        pass

    class OperationalError(Exception):
        orig = Driver('FATAL: password authentication failed for "postgresql://kefu:hunter2@db:5432/kefu" '
                      "password=hunter2\nDETAIL: more")

    text = database_error(OperationalError())
    assert text.startswith("OperationalError: FATAL: password authentication failed") and "DETAIL" not in text
    assert "hunter2" not in text
