"""One reconnect rule for Kefu's Redis clients.

After Redis restarts (or fails over) every pooled connection is dead, and redis-py hands each one
out once more before noticing — so the first command on each connection of each worker fails, and
a customer gets an apology although Redis is back. With this rule a command that meets a dropped
connection reconnects and is sent once more; a Redis that is really down still fails at once.
"""
from __future__ import annotations

from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError


def reconnecting() -> dict:
    """Keyword arguments for ``redis.asyncio.Redis(...)`` / ``from_url(...)``."""
    return {"retry": Retry(NoBackoff(), 1), "retry_on_error": [RedisConnectionError]}
