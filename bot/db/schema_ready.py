"""A store's tables are in the database, or one clear error saying how to get them there.

The schema belongs to the migrations (bot/db/migrate.py): no store creates a table for itself. A table
made alone at run time would make a new database look like one an earlier Kefu made (it would then be
"adopted" instead of created) and would never gain a later revision's columns. So a store only checks,
once per database and set of tables in a process, that its tables exist; a database nobody upgraded
gets ``SchemaNotReady`` ("run `kefu db upgrade`") instead of an SQL traceback on its first query.
"""
from __future__ import annotations

import threading

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from bot.db.repository import DatabaseError

_ready: set[tuple[str, frozenset[str]]] = set()
_lock = threading.Lock()


class SchemaNotReady(DatabaseError, SQLAlchemyError):
    """The database lacks tables of this Kefu's schema: it was never upgraded (``kefu db upgrade``).

    Also an ``SQLAlchemyError`` so that code which keeps a write for later while the database cannot take
    it (the outcome recorder parks its events) keeps it until the database is upgraded, as it would while
    the database is down."""


def require_tables(engine: Engine, *tables: sa.Table) -> None:
    """Raise ``SchemaNotReady`` unless every table exists (checked once per database per process when
    found; a database not reached raises the driver's error, as a query would)."""
    names = frozenset(table.name for table in tables)
    key = (engine.url.render_as_string(hide_password=True), names)
    if key in _ready:
        return
    present = set(sa.inspect(engine).get_table_names())
    missing = sorted(names - present)
    if missing:
        raise SchemaNotReady(
            f"the database {key[0]} has no table {', '.join(missing)}: its schema was never brought to this "
            "Kefu's. Run `kefu db upgrade` (kefu run and kefu db init do it too), then try again.")
    with _lock:
        _ready.add(key)
