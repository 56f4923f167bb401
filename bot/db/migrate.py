"""Bringing a customer database to the schema this Kefu expects (Alembic, configured in code).

Why here and not ``metadata.create_all``: create_all makes missing tables but never adds a column to
an existing one, so a new version's column would be missing on every operator's database. Each schema
change is an Alembic revision in bot/db/migrations/versions/; ``upgrade`` applies the ones a database
lacks, and is what ``kefu run``, ``kefu db init`` and ``kefu db upgrade`` call.

- A database made by an earlier Kefu (its tables, no ``alembic_version``) is adopted: the baseline
  revision adds what that Kefu would have added on the fly, every baseline column is checked, and the
  later revisions follow. Its rows stay.
- A database at a revision this Kefu does not know (a newer Kefu upgraded it, then the software was
  rolled back) is refused with ``SchemaError``: nothing is written to it.
- Several instances starting at once: on PostgreSQL the whole upgrade runs in one transaction under a
  transaction-level advisory lock, so the first instance upgrades and the others wait, then find the
  database current; on SQLite (one machine) an exclusive lock on a file next to the database does it.
- All or nothing on both: a revision that fails leaves the database exactly as it was (``_transaction``:
  on SQLite the driver's own transaction handling would have committed the DDL before the failure).
"""
from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import sys
import threading
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from bot.db.errors import database_error
from bot.db.repository import DatabaseError
from bot.db.schema import metadata
from bot.db.write_locked import write_locked

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
BASELINE = "0001_baseline"
# pg_advisory_xact_lock key of the schema upgrade: any constant bigint, the same in every Kefu version
ADVISORY_LOCK_KEY = 0x4B4546550001  # "KEFU" 0001
# Alembic's ``op`` and ``context`` are process-wide: two threads of one process must not migrate at once
_in_process = threading.Lock()


class SchemaError(DatabaseError):
    """The database's schema cannot be brought to this Kefu's: Kefu must not start on it."""


@dataclass(frozen=True)
class Upgrade:
    """What ``upgrade`` did: the revision before (None: no version recorded) and after."""

    before: str | None
    after: str
    adopted: bool = False  # an earlier Kefu's database, without a recorded version, was taken over

    @property
    def changed(self) -> bool:
        return self.before != self.after


def alembic_config(script_location: Path = MIGRATIONS, connection: Connection | None = None) -> Config:
    """Alembic's configuration without an ini file: where the revisions are, and the connection to use."""
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.attributes["connection"] = connection
    return config


@lru_cache(maxsize=8)
def _scripts(script_location: Path) -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config(script_location))


def head(script_location: Path = MIGRATIONS) -> str:
    """The newest revision this Kefu knows."""
    return _scripts(script_location).get_current_head()


def known_revisions(script_location: Path = MIGRATIONS) -> set[str]:
    return {script.revision for script in _scripts(script_location).walk_revisions()}


def current_revision(engine: Engine) -> str | None:
    """The database's recorded revision; None when it records none (empty, or made by an earlier Kefu)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def is_legacy(conn: Connection) -> bool:
    """Kefu's tables without a recorded revision: a database made by a Kefu before migrations."""
    return bool(set(sa.inspect(conn).get_table_names()) & set(metadata.tables))


def upgrade(engine: Engine, script_location: Path = MIGRATIONS) -> Upgrade:
    """Bring the database to the newest revision; safe to call from several instances at once."""
    target = head(script_location)
    try:
        before = current_revision(engine)
        if before == target:  # the usual start: one query, no lock
            return Upgrade(before, target)
        with _upgrade_lock(engine) as conn, _transaction(conn):
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
            before = MigrationContext.configure(conn).get_current_revision()  # another instance may have upgraded
            _refuse_unknown(before, script_location)
            if before == target:
                return Upgrade(before, target)
            adopted = before is None and is_legacy(conn)
            config = alembic_config(script_location, conn)
            try:
                if adopted:
                    log.warning("database.adopt: tables of an earlier Kefu without a schema version; checking them")
                    command.upgrade(config, BASELINE)
                    _check_adopted(conn, script_location)
                command.upgrade(config, "head")
            except SQLAlchemyError as exc:  # a revision's statement failed; the transaction rolls back
                raise SchemaError(
                    f"the database schema could not be upgraded from {before or '(none)'} to {target}: revision "
                    f"{_failed_revision(config, before, script_location)} failed ({database_error(exc)}). The upgrade "
                    "was rolled back and the database is as it was: fix the cause, then run `kefu db upgrade` "
                    "again.") from exc
            after = MigrationContext.configure(conn).get_current_revision()
    except CommandError as exc:
        raise SchemaError(f"the database schema could not be upgraded: {exc}") from exc
    log.info("database.upgraded from=%s to=%s adopted=%s", before, after, adopted)
    return Upgrade(before, after, adopted)


def _failed_revision(config: Config, before: str | None, script_location: Path) -> str:
    """The revision that was being applied: the first one after ``before`` that env.py did not report done."""
    done = set(config.attributes.get("applied", ()))
    pending = reversed(list(_scripts(script_location).iterate_revisions("head", before)))
    return next((script.revision for script in pending if script.revision not in done), "(unknown)")


@contextlib.contextmanager
def _transaction(conn: Connection) -> Iterator[None]:
    """The upgrade's one transaction: committed when every revision is applied, else rolled back.

    PostgreSQL's DDL is transactional as it is. SQLite's is too, but Python's sqlite3 driver begins a
    transaction only before INSERT/UPDATE/DELETE: the DDL before the first of them was committed on the
    spot, so a revision failing half-way left its first columns behind and ``alembic_version`` at the old
    revision, which the next start could not upgrade ("duplicate column"). So it is begun by hand
    (bot/db/write_locked.py), taking the write lock before the revision is read, not half-way through.

    Foreign keys are off meanwhile (Alembic's advice for batch operations, which copy a table and drop
    the original: with them on, dropping ``customers`` would fail or cascade), and ``PRAGMA
    foreign_key_check`` refuses an upgrade that leaves a row pointing at nothing that was not there before."""
    if conn.dialect.name != "sqlite":
        with conn.begin():
            yield
        return
    with write_locked(conn, foreign_keys=False):
        dangling = _dangling_references(conn)
        yield
        _refuse_new_dangling_references(conn, dangling)


def _dangling_references(conn: Connection) -> Counter:
    """Rows whose foreign key points at no row, counted by table and the table they point at."""
    return Counter((row[0], row[2]) for row in conn.exec_driver_sql("PRAGMA foreign_key_check"))


def _refuse_new_dangling_references(conn: Connection, before: Counter) -> None:
    new = _dangling_references(conn) - before
    if new:
        named = ", ".join(f"{count} row(s) of {table} pointing at no {parent}"
                          for (table, parent), count in new.items())
        raise SchemaError(f"the schema upgrade would leave {named}; it was rolled back and the database is as it was")


def _refuse_unknown(revision: str | None, script_location: Path) -> None:
    if revision is not None and revision not in known_revisions(script_location):
        raise SchemaError(
            f"the database's schema is at revision {revision!r}, which this Kefu does not know (it knows up to "
            f"{head(script_location)!r}): a newer Kefu has upgraded it. Run that newer Kefu, or restore the "
            "backup taken before the upgrade; this Kefu will not touch the database.")


def _check_adopted(conn: Connection, script_location: Path) -> None:
    """Every column of the baseline is there, or the adoption stops (and on PostgreSQL rolls back)."""
    inspector = sa.inspect(conn)
    present = set(inspector.get_table_names())
    missing = [f"{table}.{column}"
               for table, columns in _baseline_columns(script_location).items() if table in present
               for column in sorted(columns - {c["name"] for c in inspector.get_columns(table)})]
    if missing:
        raise SchemaError(
            "the database was made by an earlier Kefu but lacks column(s) "
            f"{', '.join(missing)} that Kefu cannot add by itself; restore a backup or add them, then start again")


@lru_cache(maxsize=4)
def _baseline_columns(script_location: Path) -> dict[str, frozenset[str]]:
    """The baseline's tables and columns, read from a scratch in-memory database migrated to it."""
    scratch = sa.create_engine("sqlite://", future=True)
    with scratch.connect() as conn:
        command.upgrade(alembic_config(script_location, conn), BASELINE)
        conn.commit()
        inspector = sa.inspect(conn)
        tables = {t: frozenset(c["name"] for c in inspector.get_columns(t))
                  for t in inspector.get_table_names() if t != "alembic_version"}
    scratch.dispose()
    return tables


@contextlib.contextmanager
def _upgrade_lock(engine: Engine) -> Iterator[Connection]:
    """A connection for the upgrade, held by one thread of this process at a time and, on a SQLite file,
    under an exclusive lock on ``<file>.upgrade-lock`` (PostgreSQL's lock between processes and machines
    is taken in the upgrade's transaction, see ``upgrade``)."""
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    with contextlib.ExitStack() as stack:
        stack.enter_context(_in_process)
        if database and database != ":memory:" and not database.startswith("file:"):
            handle = os.open(f"{database}.upgrade-lock", os.O_RDWR | os.O_CREAT, 0o600)
            stack.callback(os.close, handle)
            fcntl.flock(handle, fcntl.LOCK_EX)  # released when the handle closes
        yield stack.enter_context(engine.connect())


def new_revision(message: str, script_location: Path = MIGRATIONS) -> Path:
    """For developers: a revision file for what bot/db/schema.py now has and the migrations do not, found by
    Alembic's autogenerate against a scratch database migrated to the newest revision. Review it before
    committing (autogenerate cannot tell a rename from a drop and an add, nor fill existing rows)."""
    number = len(known_revisions(script_location)) + 1
    slug = re.sub(r"\W+", "_", message.lower()).strip("_")[:40]
    scratch = sa.create_engine("sqlite://", future=True)
    with scratch.connect() as conn:
        config = alembic_config(script_location, conn)
        config.set_main_option("file_template", "%%(rev)s")
        command.upgrade(config, "head")
        conn.commit()
        script = command.revision(config, message=message, autogenerate=True, rev_id=f"{number:04d}_{slug}")
    scratch.dispose()
    return Path(script.path)


if __name__ == "__main__":  # python -m bot.db.migrate revision "what changed"
    if len(sys.argv) != 3 or sys.argv[1] != "revision":
        sys.exit('usage: python -m bot.db.migrate revision "what changed"')
    print(new_revision(sys.argv[2]))
