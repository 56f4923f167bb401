"""Whether two Redis clients reach one server and database: asked of the servers, not read from addresses.

The fence (``bot.lock_store``) checks a turn's lock inside the tracker store's save, so it works exactly
when the tracker store's connection sees the lock store's keys. Comparing the two addresses judged a host
name and its address (``LOCALHOST``, ``127.1``, a DNS name and its IP, a socket path) different servers,
and switched the fence off where it would have worked. Here the lock store's client writes a random value
under a probe key and the tracker store's client reads it: seen, they share a server and database. Not
seen, the lock store's client reads it back: there, they are different; gone there too, the one Redis
restarted in between without keeping it, and the probe is made again.

A Redis restart later changes nothing (the addresses reach what they reached), so the caller asks once per
process. A Redis that does not answer decides nothing: its error is raised, and the next save asks again.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass

from redis.exceptions import ConnectionError, ReadOnlyError, RedisError, TimeoutError

PROBE_MS = 60_000  # a probe left behind by a process that died between writing and deleting it expires
ATTEMPTS = 3


@dataclass(frozen=True)
class Verdict:
    same: bool
    why: str = ""  # when not the same: why, for the log


class Undecided(RedisError):
    """The check could not be made now (the probe vanished each time): decide later, at the next save."""


def address(client) -> str:
    """``host:port/db`` (or ``path/db``) of a redis.asyncio client, as configured: for logs only."""
    kwargs = client.connection_pool.connection_kwargs
    where = kwargs.get("path") or f"{kwargs.get('host')}:{kwargs.get('port')}"
    return f"{where}/{int(kwargs.get('db') or 0)}"


async def same_redis(writer, reader, prefix: str) -> Verdict:
    """Whether ``reader`` sees what ``writer`` writes (same server and database). Raises the ``RedisError`` of a
    Redis that does not answer (a transient state, not a verdict); a Redis that refuses the check itself (an
    ACL, a renamed command) is a verdict: the fence could not work there either."""
    try:
        for _ in range(ATTEMPTS):
            key, value = f"{prefix}same-redis-probe:{uuid.uuid4().hex}", uuid.uuid4().hex
            await writer.set(key, value, px=PROBE_MS)
            try:
                if _text(await reader.get(key)) == value:
                    return Verdict(True)
                if _text(await writer.get(key)) == value:
                    return Verdict(False, "the tracker store does not see the lock store's keys: different Redis "
                                          "servers or databases")
            finally:
                await writer.delete(key)
        raise Undecided("the probe vanished each time (Redis restarting?)")
    except (ConnectionError, TimeoutError, ReadOnlyError, Undecided):
        raise
    except RedisError as exc:
        return Verdict(False, f"the check was refused ({type(exc).__name__}: {exc})")


def _text(raw) -> str | None:
    return raw.decode() if isinstance(raw, bytes) else raw
