"""Per-sender rate limits and "process once" keys shared by the channels.

Backed by Redis (``redis.asyncio``) so several Rasa workers agree; when no Redis URL is
configured (a bare ``rasa run`` during development) it falls back to process memory and
says so once in the log.
"""
from __future__ import annotations

import logging
import time
import uuid

from redis.exceptions import RedisError

from bot.redis_reconnect import reconnecting

logger = logging.getLogger(__name__)

# Renew the claims KEYS still held for their work (ARGV[1]: the lease, ms): one settled or released is left alone.
_RENEW_CLAIMS = """
for i = 1, #KEYS do
  if redis.call('get', KEYS[i]) == '1' then redis.call('pexpire', KEYS[i], ARGV[1]) end
end
return 1
"""


class ChannelGuard:
    """Idempotency keys (SET NX with TTL), sliding-window rate limits and a small cache."""

    def __init__(self, redis_url: str | None, prefix: str) -> None:
        self.redis_url = redis_url
        self.prefix = prefix
        self._redis = None
        self._memory: dict[str, tuple[float, object]] = {}
        if not redis_url:
            logger.warning("channels.guard.memory_fallback prefix=%s", prefix)

    def _client(self):
        if self._redis is None and self.redis_url:
            import redis.asyncio as redis

            self._redis = redis.from_url(self.redis_url, decode_responses=True, **reconnecting())
        return self._redis

    def _key(self, key: str) -> str:
        return f"{self.prefix}:{key}"

    def key(self, key: str) -> str:
        """The Redis key of ``key`` under this guard's prefix (for helpers keeping their own data)."""
        return self._key(key)

    def client(self):
        """The shared ``redis.asyncio`` client, or None when running on process memory."""
        return self._client()

    def _memory_get(self, key: str):
        expires, value = self._memory.get(key, (0.0, None))
        if expires and expires < time.monotonic():
            self._memory.pop(key, None)
            return None
        return value

    async def first_time(self, key: str, ttl_seconds: int) -> bool:
        """True the first time ``key`` is seen within ``ttl_seconds``, False for repeats."""
        client = self._client()
        if client is not None:
            return bool(await client.set(self._key(key), "1", nx=True, ex=ttl_seconds))
        if self._memory_get(self._key(key)) is not None:
            return False
        self._memory[self._key(key)] = (time.monotonic() + ttl_seconds, "1")
        return True

    async def claim(self, key: str, lease_seconds: float) -> bool:
        """Take ``key`` for a piece of work: True when nobody holds it or has finished it.

        The holder renews the lease with :meth:`renew` while it works and marks the work done with
        :meth:`settle`. A holder whose process dies stops renewing, so the lease lapses and a retry
        of the same work is taken again, instead of being a "duplicate" of work nobody finishes.
        """
        return await self.first_time(key, max(1, round(lease_seconds)))

    async def renew(self, key: str, lease_seconds: float) -> None:
        client = self._client()
        if client is not None:
            await client.expire(self._key(key), max(1, round(lease_seconds)))
        elif self._memory_get(self._key(key)) is not None:
            self._memory[self._key(key)] = (time.monotonic() + lease_seconds, "1")

    def renew_claims(self, client, keys: list[str], lease_seconds: float) -> None:
        """:meth:`renew` for a thread (``client``: a synchronous one), in one round trip; a claim settled or
        released meanwhile stays as it is."""
        if keys:
            client.eval(_RENEW_CLAIMS, len(keys), *[self._key(key) for key in keys],
                        max(1, round(lease_seconds * 1000)))

    async def settle(self, key: str, ttl_seconds: int) -> None:
        """The work under ``key`` is done: repeats within ``ttl_seconds`` are duplicates."""
        await self.put(key, "done", ttl_seconds)

    async def first_value(self, key: str, value: str, ttl_seconds: int) -> str:
        """The value first stored under ``key`` within ``ttl_seconds``; ``value`` when this is the first."""
        client = self._client()
        if client is not None:
            if await client.set(self._key(key), value, nx=True, ex=ttl_seconds):
                return value
            return await client.get(self._key(key)) or value
        stored = self._memory_get(self._key(key))
        if stored is not None:
            return str(stored)
        self._memory[self._key(key)] = (time.monotonic() + ttl_seconds, value)
        return value

    async def allow(self, sender: str, limit: int, window_seconds: int) -> bool:
        """At most ``limit`` hits per sender in any ``window_seconds`` (refused hits count too).

        A sliding window: fixed windows let a burst of twice the limit through across a boundary.
        """
        if limit <= 0:
            return True
        now = time.time()
        key = self._key(f"rate:{sender}")
        client = self._client()
        if client is not None:
            try:
                async with client.pipeline(transaction=True) as pipe:
                    pipe.zremrangebyscore(key, 0, now - window_seconds)
                    pipe.zadd(key, {f"{now:.6f}:{uuid.uuid4().hex[:8]}": now})
                    pipe.zcard(key)
                    pipe.expire(key, window_seconds)
                    _, _, count, _ = await pipe.execute()
            except RedisError as exc:  # fail open: the turn itself tells the customer Redis is down
                logger.warning("channels.guard.rate_unknown prefix=%s error=%s", self.prefix, type(exc).__name__)
                return True
            return count <= limit
        hits = [at for at in (self._memory_get(key) or []) if at > now - window_seconds] + [now]
        self._memory[key] = (time.monotonic() + window_seconds, hits)
        return len(hits) <= limit

    async def get(self, key: str) -> str | None:
        client = self._client()
        if client is not None:
            return await client.get(self._key(key))
        value = self._memory_get(self._key(key))
        return None if value is None else str(value)

    async def put(self, key: str, value: str, ttl_seconds: int) -> None:
        client = self._client()
        if client is not None:
            await client.set(self._key(key), value, ex=max(1, ttl_seconds))
        else:
            self._memory[self._key(key)] = (time.monotonic() + ttl_seconds, value)

    async def forget(self, key: str) -> None:
        client = self._client()
        if client is not None:
            await client.delete(self._key(key))
        else:
            self._memory.pop(self._key(key), None)
