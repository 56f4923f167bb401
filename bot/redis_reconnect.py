"""One rule for how Kefu's Redis clients meet a Redis that restarts, fails over or hangs.

After Redis restarts (or fails over) every pooled connection is dead, and redis-py hands each one
out once more before noticing — so the first command on each connection of each worker fails, and
a customer gets an apology although Redis is back. With this rule a command that meets a dropped
connection reconnects and is sent once more; a Redis that is really down still fails at once.

A Redis that hangs instead (stopped, a network partition, a failover without a TCP reset) refuses
nothing: with no socket timeout a command waits for the kernel to give up on the connection, about
15 minutes, and every turn stalls that long with no apology (found by an on-call test: a 28 s hang
cost each turn 28 s). So every client also gives up after ``KEFU_REDIS_TIMEOUT_SECONDS`` (connect
and each command) with ``redis.TimeoutError``, a ``RedisError`` like the refused connection, which
the turn guard (bot/observability/rasa_guards.py) already turns into the apology. A timeout is not
retried: the retry is for a connection that broke, not for a Redis that does not answer.

Blocking reads are the exception: a Pub/Sub listener waits for messages for as long as there are
none, so it gets :func:`listening` (connect timeout only), and ``get_message(timeout=...)`` calls
pass their own read timeout, which redis-py uses instead of the socket timeout.
"""
from __future__ import annotations

from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError


def timeout_s() -> float:
    """``KEFU_REDIS_TIMEOUT_SECONDS`` (default 2 s): how long Kefu waits for Redis to answer."""
    from bot.settings import get_settings

    return get_settings().redis.timeout_s


def timeouts(seconds: float | None = None) -> dict:
    """Connect and command timeouts, for any redis-py client (the synchronous ones of the commands too)."""
    seconds = timeout_s() if seconds is None else seconds
    return {"socket_timeout": seconds, "socket_connect_timeout": seconds}


def reconnecting(seconds: float | None = None) -> dict:
    """Keyword arguments for ``redis.asyncio.Redis(...)`` / ``from_url(...)``: reconnect once, never hang."""
    return {"retry": Retry(NoBackoff(), 1), "retry_on_error": [RedisConnectionError], **timeouts(seconds)}


def listening(seconds: float | None = None) -> dict:
    """For a client whose connection waits on Pub/Sub messages: connecting may not hang, waiting may."""
    return {"retry": Retry(NoBackoff(), 1), "retry_on_error": [RedisConnectionError],
            "socket_connect_timeout": timeout_s() if seconds is None else seconds}
