"""Each test process's own databases on CI's redis-server (``REDIS_URL``), so pytest-xdist workers
(``make test`` runs two) never see each other's queue, sessions or codes.

A process gets ``DATABASES_PER_WORKER`` consecutive Redis databases: the first is the stack's
(``REDIS_URL`` as the process sees it), the next ones the spare databases some tests flush freely
(``spare_url``). Worker ``gwN`` starts at database ``N * DATABASES_PER_WORKER``; a run without
workers keeps ``REDIS_URL`` as given. A Redis has 16 databases: up to four workers.

A process a test starts inherits the worker's environment, ``PYTEST_XDIST_WORKER`` included: one that
imports ``tests.conftest`` (a worker script importing a test module) must keep the ``REDIS_URL`` the
test gave it, not move it on by another ``N * DATABASES_PER_WORKER``.
"""
from __future__ import annotations

import os

DATABASES_PER_WORKER = 4
MOVED = "KEFU_TEST_REDIS_MOVED"  # set once a worker moved its REDIS_URL: its children keep theirs
SCALE, HANDOFF, NEIGHBOUR = 1, 2, 3  # spare databases: tests/scale's two-process stack; the handoff and action
# tests'; another deployment beside the handoff tests' on one Redis server (tests/handoff/conftest.py, neighbour_url)


def worker_number() -> int:
    """0 for ``gw0`` or a run without pytest-xdist."""
    return int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)


def database_url(url: str, database: int) -> str:
    """``url`` (``redis://host:port[/db]``) pointing at ``database`` instead."""
    base = url.rsplit("/", 1)[0] if url.count("/") >= 3 else url
    return f"{base}/{database}"


def first_database(url: str) -> int:
    tail = url.rsplit("/", 1)[-1] if url.count("/") >= 3 else ""
    return int(tail) if tail.isdigit() else 0


def move_to_own_databases() -> None:
    """Point ``REDIS_URL`` at this worker's first database (at start, before anything reads it)."""
    url = os.environ.get("REDIS_URL")
    if url and worker_number() and not os.environ.get(MOVED):
        os.environ["REDIS_URL"] = database_url(url, first_database(url) + worker_number() * DATABASES_PER_WORKER)
        os.environ[MOVED] = "1"  # not in pytest-xdist's controller (it moves nothing): workers inherit its environment


def spare_url(url: str, spare: int) -> str:
    """The ``spare``-th database after ``url``'s, within this worker's own."""
    return database_url(url, first_database(url) + spare)
