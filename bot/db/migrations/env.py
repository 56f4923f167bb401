"""Alembic's environment for Kefu: always run from bot/db/migrate.py, which hands over an open connection.

There is no ``alembic.ini`` and no offline (SQL script) mode: the connection comes from the
``connection`` attribute of the Alembic config, already holding the upgrade lock.
"""
from __future__ import annotations

from alembic import context

from bot.db.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None or context.is_offline_mode():
    raise RuntimeError("Kefu's migrations run through bot.db.migrate (kefu db upgrade), not the alembic command")

applied = context.config.attributes.setdefault("applied", [])
context.configure(
    connection=connection,
    target_metadata=metadata,
    compare_type=True,
    # SQLite alters a table by copying it (ALTER COLUMN, DROP COLUMN, constraints): batch mode does that
    render_as_batch=connection.dialect.name == "sqlite",
    # the revisions applied so far, for bot/db/migrate.py to name the one that failed
    on_version_apply=lambda *, step, **_: applied.append(step.up_revision_id),
)
with context.begin_transaction():
    context.run_migrations()
