"""A schema upgrade of a SQLite file is all or nothing (operator's note: "SQLite upgrades are not all-or-nothing").

Python's sqlite3 driver began a transaction only before INSERT/UPDATE/DELETE, so the DDL of a revision that
failed half-way was already committed, ``alembic_version`` stayed at the old revision, and the next start
stopped on "duplicate column". bot/db/migrate.py now runs the whole upgrade as one SQLite transaction.
Each test uses the engine Kefu itself makes (``engine_for``: foreign keys enforced, a busy timeout).
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.db import migrate
from bot.db.repository import engine_for
from tests.next_migration import next_version
from tests.test_migrations import add_bill, add_customer, at_revision, create_old_kefu_database, customers


@pytest.fixture
def path(tmp_path) -> Path:
    return tmp_path / "kefu.sqlite3"


@pytest.fixture
def engine(path):
    engine = engine_for(f"sqlite:///{path}")
    yield engine
    engine.dispose()


def everything(path: Path) -> list[str]:
    """The file's whole content as SQL: every table, index and row, ``alembic_version`` included."""
    with sqlite3.connect(path) as conn:
        return list(conn.iterdump())


def add_second_customer(engine, name="Wang") -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO customers (phone, account_number, name, vip_tier, address, plan_code, "
                             "balance_cents) VALUES ('13800000002', 'A002', :name, 0, 'Road 2', 'bb100', 0)"),
                     {"name": name})


def test_revisions_failing_half_way_leave_the_file_as_it_was_and_the_next_upgrade_succeeds(engine, path, tmp_path):
    """0005 adds columns, then 0006 adds one and fails on the operator's data: none of it may stay."""
    at_revision(engine, "0004_published_models")
    add_customer(engine)
    add_second_customer(engine)  # two customers named Wang: 0006's unique index refuses them
    folder = next_version(tmp_path, "0006_next", '''\
    op.add_column("customers", sa.Column("language", sa.String(8), nullable=False, server_default="zh"))
    op.create_index("ix_customers_name", "customers", ["name"], unique=True)''')
    before = everything(path)

    with pytest.raises(migrate.SchemaError, match=r"from 0004_published_models to 0006_next: revision 0006_next "
                       r"failed \(IntegrityError: UNIQUE constraint failed: customers\.name\)\. The upgrade was "
                       r"rolled back and the database is as it was"):
        migrate.upgrade(engine, folder)

    assert everything(path) == before  # no sellable, no external_id, version still 0004
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE customers SET name = 'Li' WHERE phone = '13800000002'"))  # the operator's fix
    done = migrate.upgrade(engine, folder)
    assert (done.before, done.after) == ("0004_published_models", "0006_next")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT language FROM customers")).scalars().all() == ["zh", "zh"]


def test_an_earlier_kefus_database_holding_a_month_twice_is_left_as_it_was_then_adopted(engine, path):
    """The adoption creates tables and 0002-0004 more before 0005 refuses the doubled month."""
    create_old_kefu_database(engine, leave_out_tables={"agent_roles"})
    add_customer(engine)
    add_bill(engine)
    add_bill(engine)  # a raw-SQL load run twice
    before = everything(path)

    with pytest.raises(migrate.SchemaError, match=r"bills: customer 1 2026-11 \(2 rows\).*Nothing was changed"):
        migrate.upgrade(engine)

    assert everything(path) == before  # no agent_roles, no privacy_requests, no alembic_version
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM bills WHERE id = 2"))
    done = migrate.upgrade(engine)
    assert done.adopted and done.after == migrate.head()
    assert customers(engine)[0]["phone"] == "13800000001"


def test_a_batch_revision_copies_a_table_others_point_at_keeping_their_rows(engine, path, tmp_path):
    """Alembic's batch mode rebuilds ``customers`` (copy, drop, rename): with foreign keys enforced the drop
    of a table bills point at failed; they are off during the upgrade and on again afterwards."""
    migrate.upgrade(engine)
    add_customer(engine)
    add_bill(engine)
    folder = next_version(tmp_path, "0006_next", '''\
    with op.batch_alter_table("customers", recreate="always") as batch:
        batch.alter_column("address", existing_type=sa.String(200), nullable=True)''')

    assert migrate.upgrade(engine, folder).after == "0006_next"

    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT customer_id, period FROM bills")).all() == [(1, "2026-11")]
        assert customers(engine)[0]["phone"] == "13800000001"
        assert conn.execute(sa.text("PRAGMA foreign_keys")).scalar_one() == 1
    with pytest.raises(sa.exc.IntegrityError):  # still refused: a bill of no customer
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO bills (customer_id, period, amount_cents, status, due_date) "
                                 "VALUES (99, '2026-12', 1, 'unpaid', '2027-01-15')"))


def test_a_revision_that_would_leave_rows_pointing_at_nothing_is_rolled_back(engine, path, tmp_path):
    migrate.upgrade(engine)
    add_customer(engine)
    add_bill(engine)
    folder = next_version(tmp_path, "0006_next", '''\
    op.add_column("plans", sa.Column("region", sa.String(8), nullable=True))
    op.execute("DELETE FROM customers")''')
    before = everything(path)

    with pytest.raises(migrate.SchemaError, match=r"1 row\(s\) of bills pointing at no customers.*rolled back"):
        migrate.upgrade(engine, folder)

    assert everything(path) == before


def test_an_upgrade_waits_for_a_write_in_progress_and_keeps_it(engine, path, tmp_path):
    """A second ``kefu run`` starting (an upgrade) while the first is writing a ticket: the upgrade takes
    SQLite's write lock before it reads the revision, waiting for the write (the busy timeout), and the
    write's row is in the upgraded file, with the new column's default."""
    import threading

    migrate.upgrade(engine)
    add_customer(engine)
    folder = next_version(tmp_path, "0099_next", '''\
    op.add_column("customers", sa.Column("language", sa.String(8), nullable=False, server_default="zh"))''')
    writing, written = threading.Event(), threading.Event()

    def a_running_kefu_writes() -> None:
        with sqlite3.connect(path, isolation_level=None) as conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO customers (phone, account_number, name, vip_tier, address, plan_code, "
                         "balance_cents) VALUES ('13800000002', 'A002', 'Li', 0, 'Road 2', 'bb100', 0)")
            writing.set()
            written.wait(timeout=30)
            conn.execute("COMMIT")

    writer = threading.Thread(target=a_running_kefu_writes)
    writer.start()
    assert writing.wait(timeout=30)
    threading.Timer(1.0, written.set).start()  # the write commits a second into the upgrade's wait
    done = migrate.upgrade(engine, folder)
    writer.join(timeout=30)
    assert (done.before, done.after) == (migrate.head(), "0099_next")
    with engine.connect() as conn:
        assert sorted(conn.execute(sa.text("SELECT name, language FROM customers")).all()) == [("Li", "zh"),
                                                                                               ("Wang", "zh")]
