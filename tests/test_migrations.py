"""Schema migrations (deployer's report: a column a new Kefu added never reached an existing database).

``metadata.create_all`` only made missing tables, so an operator upgrading Kefu met the first query
touching a new column with an error. Now every schema change is an Alembic revision
(bot/db/migrations/versions/) applied by bot/db/migrate.py at ``kefu run`` / ``kefu db init`` /
``kefu db upgrade``. Each test runs on SQLite and, when KEFU_TEST_POSTGRES_URL is set, on PostgreSQL.
"""
from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from bot.db import migrate
from bot.db.schema import metadata
from tests.next_migration import next_version
from tests.postgres import fresh_database_url, postgres_server_url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    """A new, empty database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'kefu.sqlite3'}"
    if not postgres_server_url():
        pytest.skip("no PostgreSQL server (KEFU_TEST_POSTGRES_URL)")
    return fresh_database_url(postgres_server_url())


@pytest.fixture
def engine(database_url):
    engine = sa.create_engine(database_url, future=True)
    yield engine
    engine.dispose()


def schema_differences(engine) -> list:
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)


def version_rows(engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars())


def create_old_kefu_database(engine, *, leave_out_tables=(), leave_out_columns=()) -> None:
    """Tables as the last Kefu without migrations made them (``create_all`` of the baseline's tables and
    columns), less some tables/columns (``"table.column"``) an even earlier Kefu did not have yet."""
    baseline = migrate._baseline_columns(migrate.MIGRATIONS)
    old = sa.MetaData()
    for table in metadata.sorted_tables:  # schema.py declares keys, indexes and uniques on the columns
        if table.name in baseline and table.name not in leave_out_tables:
            sa.Table(table.name, old, *[old_column(column) for column in table.columns
                                        if column.name in baseline[table.name]
                                        and f"{table.name}.{column.name}" not in leave_out_columns])
    old.create_all(engine)


def old_column(column: sa.Column) -> sa.Column:
    copy = column.copy()  # leaves out foreign keys already bound to their table's constraint
    for key in column.foreign_keys:
        copy.append_foreign_key(sa.ForeignKey(key.target_fullname))
    return copy


def add_customer(engine, phone="13800000001") -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO plans (code, name, category, monthly_fee_cents, description) "
                             "VALUES ('bb100', 'Broadband 100M', 'broadband', 7900, '')"))
        conn.execute(sa.text("INSERT INTO customers (phone, account_number, name, vip_tier, address, plan_code, "
                             "balance_cents) VALUES (:phone, 'A001', 'Wang', 1, 'Road 1', 'bb100', -500)"),
                     {"phone": phone})


def customers(engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.text("SELECT phone, name, balance_cents FROM customers")).mappings()]


def test_the_migrations_build_exactly_the_schema_the_code_uses(engine):
    """Fails whenever bot/db/schema.py changes without a revision that makes the same change."""
    done = migrate.upgrade(engine)
    assert (done.before, done.after) == (None, migrate.head())
    assert schema_differences(engine) == [], (
        "bot/db/schema.py and the migrations disagree: add a revision (docs/database-migrations.md)")


def test_a_second_start_finds_the_database_current(engine):
    migrate.upgrade(engine)
    again = migrate.upgrade(engine)
    assert not again.changed and version_rows(engine) == [migrate.head()]


def test_an_earlier_kefus_database_is_adopted_with_its_rows(engine):
    # A Kefu from before the outcome record and the supervisor role: no agent_roles table, and
    # conversation_events without event_id and customer (which that Kefu added at run time).
    create_old_kefu_database(engine, leave_out_tables={"agent_roles"},
                             leave_out_columns={"conversation_events.event_id", "conversation_events.customer"})
    add_customer(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO conversation_events (conversation_id, kind, channel, data) "
                             "VALUES ('c1', 'session_started', 'webchat', '{}')"))

    done = migrate.upgrade(engine)

    assert done.adopted and done.after == migrate.head()
    assert customers(engine) == [{"phone": "13800000001", "name": "Wang", "balance_cents": -500}]
    inspector = sa.inspect(engine)
    assert "agent_roles" in inspector.get_table_names()
    assert {"event_id", "customer"} <= {c["name"] for c in inspector.get_columns("conversation_events")}
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT customer FROM conversation_events")).scalar_one() == ""
    assert version_rows(engine) == [migrate.head()]


def test_a_database_made_by_the_last_kefu_without_migrations_is_adopted_as_it_is(engine):
    create_old_kefu_database(engine)  # what Kefu did until now
    add_customer(engine)
    done = migrate.upgrade(engine)
    assert done.adopted and customers(engine)[0]["phone"] == "13800000001"
    assert schema_differences(engine) == []


def test_an_old_database_missing_a_column_kefu_cannot_invent_is_refused_and_left_unstamped(engine):
    create_old_kefu_database(engine, leave_out_columns={"customers.address"})
    with pytest.raises(migrate.SchemaError, match=r"customers\.address"):
        migrate.upgrade(engine)
    assert migrate.current_revision(engine) is None


def new_column_revision(tmp_path) -> Path:
    """Kefu's migrations plus a revision adding a column."""
    return next_version(tmp_path, "0002_customer_language",
                        '    op.add_column("customers", sa.Column("language", sa.String(8), nullable=False, '
                        'server_default="zh"))',
                        '    op.drop_column("customers", "language")')


def test_an_existing_database_keeps_its_rows_and_gains_a_new_versions_column(engine, tmp_path):
    migrate.upgrade(engine)  # the operator's database, at this version
    add_customer(engine)
    newer = new_column_revision(tmp_path)

    done = migrate.upgrade(engine, newer)

    assert (done.before, done.after) == (migrate.head(), "0002_customer_language")
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT phone, balance_cents, language FROM customers")).all()
    assert [tuple(r) for r in rows] == [("13800000001", -500, "zh")]


def test_a_database_a_newer_kefu_upgraded_is_refused_untouched(engine, tmp_path):
    migrate.upgrade(engine, new_column_revision(tmp_path))  # the newer Kefu ran, then was rolled back
    add_customer(engine)
    with pytest.raises(migrate.SchemaError, match="0002_customer_language.*newer Kefu"):
        migrate.upgrade(engine)
    assert version_rows(engine) == ["0002_customer_language"]
    assert len(customers(engine)) == 1


def test_instances_starting_together_upgrade_once(engine):
    starting, results, errors = threading.Barrier(4), [], []

    def start():
        starting.wait()
        try:
            results.append(migrate.upgrade(engine))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(r.changed for r in results) == [False, False, False, True]
    assert version_rows(engine) == [migrate.head()]
    assert schema_differences(engine) == []


START_AND_SAY = """
import json, sys
import sqlalchemy as sa
from bot.db import migrate
done = migrate.upgrade(sa.create_engine(sys.argv[1], future=True))
print(json.dumps({"before": done.before, "after": done.after}))
"""


def test_instances_on_several_processes_starting_together_upgrade_once(database_url, engine):
    """What the database's own lock is for: instances of one deployment, each its own process (or machine)."""
    root = Path(__file__).resolve().parent.parent
    instances = [subprocess.Popen([sys.executable, "-c", START_AND_SAY, database_url], cwd=root,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    said = [instance.communicate(timeout=120) for instance in instances]
    assert [instance.returncode for instance in instances] == [0] * 4, [err for _, err in said]
    results = [json.loads(out) for out, _ in said]
    assert sorted(r["before"] or "" for r in results) == ["", migrate.head(), migrate.head(), migrate.head()]
    assert version_rows(engine) == [migrate.head()]
    assert schema_differences(engine) == []


@pytest.fixture
def kefu_settings(database_url, tmp_path, monkeypatch):
    """``kefu`` commands pointed at the test's database."""
    from bot.settings import get_settings

    monkeypatch.setenv("KEFU_DATABASE_URL", database_url)
    monkeypatch.setenv("KEFU_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("KEFU_DEMO_DATA", "on")
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


def test_kefu_db_upgrade_adopts_an_earlier_kefus_database_and_db_current_says_so(kefu_settings, engine, capsys):
    from bot.cli import main

    create_old_kefu_database(engine)
    add_customer(engine)
    assert main(["db", "current"]) == 1
    assert "made by an earlier Kefu" in capsys.readouterr().out
    assert main(["db", "upgrade"]) == 0
    assert f"now at schema {migrate.head()}" in capsys.readouterr().out
    assert main(["db", "current"]) == 0
    assert capsys.readouterr().out.strip() == f"{migrate.head()} (current)"
    assert customers(engine)[0]["phone"] == "13800000001"


def test_kefu_db_init_and_the_stack_refuse_a_database_a_newer_kefu_upgraded(kefu_settings, engine, tmp_path, capsys):
    from bot.cli import main
    from bot.stack import KefuStack

    migrate.upgrade(engine, new_column_revision(tmp_path))
    assert main(["db", "init"]) == 2
    said = capsys.readouterr()
    assert "a newer Kefu has upgraded it" in said.err and "demo data loaded" not in said.out
    with pytest.raises(migrate.SchemaError, match="newer Kefu"):
        KefuStack(kefu_settings).prepare()  # what kefu run does first
    assert customers(engine) == []  # no demo data written into the newer schema
    assert main(["db", "current"]) == 2


def at_revision(engine, revision: str) -> None:
    """The operator's database as an earlier Kefu of the migrations era left it."""
    from alembic import command

    with engine.begin() as conn:
        command.upgrade(migrate.alembic_config(migrate.MIGRATIONS, conn), revision)


def add_bill(engine, period="2026-11") -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO bills (customer_id, period, amount_cents, status, due_date) "
                             "VALUES (1, :period, 7900, 'unpaid', '2026-12-15')"), {"period": period})


def test_the_import_revision_keeps_existing_customers_plans_and_bills(engine):
    """0005: customers gain an empty operator's key, plans stay on sale, one bill per month is kept."""
    at_revision(engine, "0004_published_models")
    add_customer(engine)
    add_bill(engine, "2026-10")
    add_bill(engine, "2026-11")
    assert migrate.upgrade(engine).after == migrate.head()
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT external_id FROM customers")).scalar_one() is None
        assert bool(conn.execute(sa.text("SELECT sellable FROM plans")).scalar_one()) is True
        assert conn.execute(sa.text("SELECT COUNT(*) FROM bills")).scalar_one() == 2
    with pytest.raises(sa.exc.IntegrityError):
        add_bill(engine, "2026-11")  # a second bill for the same month is what doubled the arrears


def test_a_database_holding_a_month_twice_is_refused_by_name_and_left_as_it_was(engine):
    at_revision(engine, "0004_published_models")
    add_customer(engine)
    add_bill(engine)
    add_bill(engine)  # a raw-SQL load run twice
    with pytest.raises(migrate.SchemaError, match=r"bills: customer 1 2026-11 \(2 rows\).*Nothing was changed"):
        migrate.upgrade(engine)
    assert migrate.current_revision(engine) == "0004_published_models"
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM bills")).scalar_one() == 2
    assert "external_id" not in {c["name"] for c in sa.inspect(engine).get_columns("customers")}


def test_the_plan_end_revision_keeps_every_customer_and_gives_them_no_end_date(engine):
    """0010: customers gain the plan's end date ("我的宽带什么时候到期"), empty (a plan renewing monthly)
    until an import gives one; nothing else of theirs changes."""
    at_revision(engine, "0009_erased_exports")
    add_customer(engine)
    add_bill(engine)
    assert migrate.upgrade(engine).after == migrate.head()
    assert customers(engine) == [{"phone": "13800000001", "name": "Wang", "balance_cents": -500}]
    with engine.begin() as conn:
        assert conn.execute(sa.text("SELECT plan_end_date FROM customers")).scalar_one() is None
        assert conn.execute(sa.text("SELECT COUNT(*) FROM bills")).scalar_one() == 1
        conn.execute(sa.text("UPDATE customers SET plan_end_date = '2027-06-30'"))
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT plan_end_date FROM customers")).scalar_one() == "2027-06-30"
