"""``KEFU_DATABASE_URL`` as operators paste it (found by an on-call test): the ``postgres://`` spelling that
hosted PostgreSQL services hand out ended `kefu run` with a SQLAlchemy traceback ("Can't load plugin:
sqlalchemy.dialects:postgres", exit code 1). It is read as ``postgresql://``; a URL SQLAlchemy cannot
use at all is refused in one line, with exit code 2, like an unreachable database."""
from __future__ import annotations

import socket

import pytest

from bot import settings as settings_module
from tests.postgres import fresh_database_url, postgres_server_url


def unused_port() -> int:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        return unused.getsockname()[1]


def db_upgrade(tmp_path, monkeypatch, url: str) -> int:
    from bot.cli import main

    monkeypatch.setenv("KEFU_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("KEFU_DATABASE_URL", url)
    settings_module.get_settings.cache_clear()
    try:
        return main(["db", "upgrade"])
    finally:
        settings_module.get_settings.cache_clear()


def test_a_postgres_url_is_read_as_postgresql(tmp_path, monkeypatch, capsys):
    port = unused_port()  # nobody listens: the PostgreSQL driver itself must say so
    assert db_upgrade(tmp_path, monkeypatch, f"postgres://kefu:pw@127.0.0.1:{port}/kefu") == 2
    said = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert said[0].startswith("Kefu cannot use the database:") and f"port {port} failed" in said[0], said


@pytest.mark.skipif(not postgres_server_url(), reason="needs KEFU_TEST_POSTGRES_URL (a PostgreSQL server)")
def test_kefu_uses_a_postgresql_database_given_as_postgres_url(tmp_path, monkeypatch, capsys):
    url = fresh_database_url(postgres_server_url()).replace("postgresql://", "postgres://", 1)
    assert db_upgrade(tmp_path, monkeypatch, url) == 0
    assert "schema upgraded from (empty)" in capsys.readouterr().out


@pytest.mark.parametrize("url", ["postgress://kefu@127.0.0.1/kefu", "kefu:s3cret@db.example/kefu"])
def test_a_database_url_sqlalchemy_cannot_use_is_refused_in_one_line(tmp_path, monkeypatch, capsys, url):
    assert db_upgrade(tmp_path, monkeypatch, url) == 2
    said = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(said) == 1 and said[0].startswith("Kefu cannot use the database: KEFU_DATABASE_URL"), said
    assert "s3cret" not in said[0]


def test_the_setting_reads_postgres_and_leaves_other_urls_alone(tmp_path):
    read = settings_module.database_url
    assert read("postgres://u:p@h:5432/kefu", tmp_path) == "postgresql://u:p@h:5432/kefu"
    assert read("postgres+psycopg2://h/kefu", tmp_path) == "postgresql+psycopg2://h/kefu"
    assert read("postgresql://h/postgres", tmp_path) == "postgresql://h/postgres"
    assert read("", tmp_path) == f"sqlite:///{tmp_path / 'kefu.sqlite3'}"
