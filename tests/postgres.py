"""PostgreSQL for the tests when CI provides a server (``KEFU_TEST_POSTGRES_URL``, see .ci/run).

Each test that wants a fresh customer database gets its own PostgreSQL database on that server,
as it would get its own SQLite file otherwise. Without the variable the tests use SQLite.
"""
from __future__ import annotations

import os
import uuid

import sqlalchemy as sa

SERVER_URL_VARIABLE = "KEFU_TEST_POSTGRES_URL"


def postgres_server_url() -> str | None:
    return os.environ.get(SERVER_URL_VARIABLE) or None


def unused_database_url(server_url: str) -> str:
    """The URL of a database of a new name on the server, not created (``seed_copy`` creates it from its
    template: creating it empty first only for ``seed_copy`` to drop it ran the DDL twice per test)."""
    return str(sa.engine.make_url(server_url).set(database=f"kefu_test_{uuid.uuid4().hex[:12]}"))


def fresh_database_url(server_url: str) -> str:
    """Create an empty database on the server and return its URL."""
    name = f"kefu_test_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(server_url, isolation_level="AUTOCOMMIT", future=True)
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return str(sa.engine.make_url(server_url).set(database=name))
