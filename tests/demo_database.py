"""A fresh demo database for each test, copied from one migrated and seeded once per test process.

Migrating and seeding took about 0.65 s per test on CI's PostgreSQL (0.4 s on SQLite), and about 560
tests ask for it (``kefu_env``). The first test of a process builds the template the usual way
(``seed_demo``: migrations, then the demo data); every later one gets a copy: ``CREATE DATABASE ...
TEMPLATE`` on PostgreSQL (a file copy on the server), a file copy on SQLite. The template is named by
the seed file's content, so a test pointing Kefu at other content gets its own.
"""
from __future__ import annotations

import hashlib
import shutil
import tempfile
import uuid
from pathlib import Path

import sqlalchemy as sa

from bot.db.repository import Repository, engine_for
from bot.db.seed import seed_demo

_templates: dict[tuple[str, str], str] = {}


def seed_copy(database_url: str, seed_file: Path) -> None:
    """Make ``database_url`` (a new SQLite file, or a PostgreSQL database named in it: made from the
    template, replacing one of that name) hold the migrated schema and the demo data of ``seed_file``."""
    url = sa.engine.make_url(database_url)
    key = (url.get_backend_name(), hashlib.sha256(seed_file.read_bytes()).hexdigest())
    if key not in _templates:
        _templates[key] = _build_template(url, seed_file)
    template = _templates[key]
    if url.get_backend_name() == "sqlite":
        shutil.copy2(template, url.database)
        return
    engine = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT", future=True)
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{url.database}"'))
        conn.execute(sa.text(f'CREATE DATABASE "{url.database}" TEMPLATE "{template}"'))
    engine.dispose()


def end_connections(database_url: str) -> None:
    """End every connection to a PostgreSQL test database (nothing to do on SQLite). A test's engines keep their
    pooled connections open until Python's cycle collector frees them: found in a CI run, two workers' action tests
    (hundreds of databases a minute) reached the server's 200 connections, and the next test could not connect.
    Not DROP DATABASE: its checkpoint tripled the action tests' time."""
    url = sa.engine.make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return
    engine = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT", future=True)
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"),
                     {"name": url.database})
    engine.dispose()


def _build_template(url: sa.engine.URL, seed_file: Path) -> str:
    """Seed a template the way ``kefu_env`` always did; returns its file path (SQLite) or database name."""
    if url.get_backend_name() == "sqlite":
        path = Path(tempfile.mkdtemp(prefix="kefu-demo-template-")) / "kefu.sqlite3"
        template_url = f"sqlite:///{path}"
    else:
        name = f"kefu_template_{uuid.uuid4().hex[:12]}"
        engine = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT", future=True)
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        template_url = url.set(database=name).render_as_string(hide_password=False)
    seed_demo(Repository(template_url), seed_file)
    engine_for(template_url).dispose()  # PostgreSQL copies a template only while nobody is connected to it
    return str(path) if url.get_backend_name() == "sqlite" else name
