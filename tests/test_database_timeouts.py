"""Kefu's PostgreSQL connections against a server that accepts and then says nothing (a stopped or
wedged server, a machine behind a proxy that is gone): libpq waited for ever, so a turn, the desk or a
worker that opened a connection then hung with it. A connection attempt must fail within seconds with
the database error that every caller already handles (the desk says the database is down, events park)."""
from __future__ import annotations

import socket
import threading

import pytest
import sqlalchemy as sa

from bot.db.repository import engine_for

DEADLINE_S = 30  # far more than the 5 s connect timeout, far less than for ever


@pytest.fixture
def silent_server():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: accepted.append(server.accept()[0]), daemon=True).start()
    yield f"postgresql://kefu@127.0.0.1:{server.getsockname()[1]}/kefu"
    for connection in accepted:
        connection.close()
    server.close()


def test_a_database_that_never_answers_is_an_error_not_a_hang(silent_server):
    outcome: list[BaseException] = []

    def connect() -> None:
        try:
            engine_for(silent_server).connect()
        except BaseException as exc:  # noqa: BLE001 - the test reads what came out
            outcome.append(exc)

    attempt = threading.Thread(target=connect, daemon=True)
    attempt.start()
    attempt.join(DEADLINE_S)
    assert not attempt.is_alive(), "still waiting for a server that never answers"
    assert len(outcome) == 1 and isinstance(outcome[0], sa.exc.OperationalError)
