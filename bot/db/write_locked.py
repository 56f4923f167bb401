"""One transaction that holds the database's write lock from its first statement, on SQLite too.

PostgreSQL: a plain transaction (READ COMMITTED), whose ``FOR UPDATE`` reads lock the rows. SQLite ignores
``FOR UPDATE``, and Python's sqlite3 driver begins a transaction only before INSERT/UPDATE/DELETE: the reads
a write depends on ran outside it, and DDL before the first write was committed on the spot. So, on this one
connection, the driver's own handling is switched off and the transaction begun by hand as BEGIN IMMEDIATE
(SQLAlchemy's recipe for pysqlite): the write lock is taken, waiting up to the busy timeout, before the first
read. Not engine-wide: a BEGIN before every read would change how Kefu's writers wait for each other. Used by
the model store's publish and prune (bot/db/model_store.py) and the schema upgrade (bot/db/migrate.py).
"""
from __future__ import annotations

import contextlib
from typing import Iterator

from sqlalchemy.engine import Connection


@contextlib.contextmanager
def write_locked(conn: Connection, *, foreign_keys: bool | None = None) -> Iterator[None]:
    """The transaction on ``conn``: committed when the block ends, rolled back on an error. ``foreign_keys``
    (SQLite): their enforcement for the transaction, put back after (the pragma cannot change inside one)."""
    if conn.dialect.name != "sqlite":
        with conn.begin():
            yield
        return
    driver = conn.connection.dbapi_connection
    handling = driver.isolation_level
    enforced = None if foreign_keys is None else driver.execute("PRAGMA foreign_keys").fetchone()[0]
    driver.isolation_level = None  # the driver issues no BEGIN or COMMIT of its own
    if foreign_keys is not None:
        driver.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
    try:
        with conn.begin():
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            yield
    finally:
        try:
            if enforced is not None:
                driver.execute(f"PRAGMA foreign_keys={'ON' if enforced else 'OFF'}")
            driver.isolation_level = handling
        except conn.dialect.dbapi.Error:  # a connection that cannot be put back is not reused
            conn.invalidate()
            raise
