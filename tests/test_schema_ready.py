"""The schema is the migrations' alone: no store makes its own tables, and one used on a database nobody
upgraded says what to run instead of failing on its first query (or quietly making a lone table, which
made a new database look like an earlier Kefu's)."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from bot import settings as settings_module
from bot.db.repository import engine_for
from bot.db.schema_ready import SchemaNotReady
from bot.handoff.accounts import AccountStore
from bot.handoff.contact_details import ContactDetails
from bot.outcomes.events import outcome_event
from bot.outcomes.store import read_events, write_events
from bot.security.credentials import CredentialStore
from tests.postgres import fresh_database_url, postgres_server_url

STORES = {"accounts": AccountStore, "contact details": ContactDetails, "credentials": CredentialStore,
          "outcome events": lambda url: write_events(engine_for(url), [outcome_event("c1", "contact_started")]),
          "outcome report": lambda url: read_events(engine_for(url))}


@pytest.fixture
def never_upgraded(tmp_path) -> str:
    """An empty database, as before ``kefu db upgrade``: SQLite, or PostgreSQL where the tests have one."""
    server = postgres_server_url()
    return fresh_database_url(server) if server else f"sqlite:///{tmp_path}/empty.sqlite3"


@pytest.mark.parametrize("store", STORES)
def test_a_store_on_a_database_never_upgraded_says_to_upgrade_and_makes_no_table(never_upgraded, store):
    with pytest.raises(SchemaNotReady, match="kefu db upgrade"):
        STORES[store](never_upgraded)
    assert sa.inspect(engine_for(never_upgraded)).get_table_names() == []


def run_kefu(tmp_path, monkeypatch, *argv: str) -> int:
    from bot.cli import main

    monkeypatch.setenv("KEFU_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("KEFU_DATABASE_URL", raising=False)
    if postgres_server_url():
        monkeypatch.setenv("KEFU_DATABASE_URL", fresh_database_url(postgres_server_url()))
    settings_module.get_settings.cache_clear()
    try:
        return main(list(argv))
    finally:
        settings_module.get_settings.cache_clear()


def test_kefu_db_init_on_a_fresh_install_makes_every_stores_tables(tmp_path, monkeypatch, capsys):
    assert run_kefu(tmp_path, monkeypatch, "db", "init") == 0
    url = settings_module.from_environment().database_url
    AccountStore(url), ContactDetails(url), CredentialStore(url)  # no SchemaNotReady
    assert read_events(engine_for(url)) == []
    assert "schema upgraded from (empty)" in capsys.readouterr().out


def test_kefu_agent_add_as_the_first_command_of_a_fresh_install_upgrades_first(tmp_path, monkeypatch, capsys):
    assert run_kefu(tmp_path, monkeypatch, "agent", "add", "lina", "--skills", "tv", "--password", "lina-pass-1") == 0
    assert "agent lina added" in capsys.readouterr().out
    from bot.db.migrate import current_revision, head

    assert current_revision(engine_for(settings_module.from_environment().database_url)) == head()
