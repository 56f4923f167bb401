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

# A claim holds its holder's token; a released one (``RELEASED``) is free to take, as a missing one is.
RELEASED = "released"
_CLAIM = """
local held = redis.call('get', KEYS[1])
if held and held ~= ARGV[3] then return 0 end
redis.call('set', KEYS[1], ARGV[1], 'px', ARGV[2])
return 1
"""
# Renew the claims KEYS still held with their tokens ARGV[2..] (ARGV[1]: the lease, ms), and put back one that
# lapsed while Redis could not be reached (hung past the lease) if nobody took it meanwhile; one settled,
# released or taken by another holder is left alone.
_RENEW_CLAIMS = """
for i = 1, #KEYS do
  local held = redis.call('get', KEYS[i])
  if held == ARGV[i + 1] then redis.call('pexpire', KEYS[i], ARGV[1])
  elseif not held then redis.call('set', KEYS[i], ARGV[i + 1], 'px', ARGV[1]) end
end
return 1
"""
# Release a claim its holder still has (KEYS[1], token ARGV[1]) for ARGV[2] ms: not deleted, so a renewal
# already under way for it cannot put it back.
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then redis.call('set', KEYS[1], ARGV[3], 'px', ARGV[2]) end
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

    async def claim(self, key: str, lease_seconds: float) -> str | None:
        """Take ``key`` for a piece of work: the holder's token when nobody holds it or has finished it,
        else None.

        The holder renews the lease with :meth:`renew` (or :meth:`renew_claims`) while it works and marks the
        work done with :meth:`settle`. A holder whose process dies stops renewing, so the lease lapses and a
        retry of the same work is taken again, instead of being a "duplicate" of work nobody finishes. The
        token says whose the claim is, so a holder can put back a claim that lapsed while Redis hung.
        """
        token = uuid.uuid4().hex
        lease_ms = max(1, round(lease_seconds * 1000))
        client = self._client()
        if client is not None:
            return token if await client.eval(_CLAIM, 1, self._key(key), token, lease_ms, RELEASED) else None
        held = self._memory_get(self._key(key))
        if held is not None and held != RELEASED:
            return None
        self._memory[self._key(key)] = (time.monotonic() + lease_seconds, token)
        return token

    async def renew(self, key: str, lease_seconds: float) -> None:
        client = self._client()
        if client is not None:
            await client.expire(self._key(key), max(1, round(lease_seconds)))
        elif (held := self._memory_get(self._key(key))) is not None:
            self._memory[self._key(key)] = (time.monotonic() + lease_seconds, held)

    def renew_claims(self, client, claims: dict[str, str], lease_seconds: float) -> None:
        """:meth:`renew` for a thread (``client``: a synchronous one), in one round trip, of ``claims`` (key:
        the holder's token); one that lapsed while Redis hung is put back unless another holder has it now, and
        one settled or released meanwhile stays as it is."""
        if claims:
            keys = sorted(claims)
            client.eval(_RENEW_CLAIMS, len(keys), *[self._key(key) for key in keys],
                        max(1, round(lease_seconds * 1000)), *[claims[key] for key in keys])

    async def release(self, key: str, token: str, lease_seconds: float) -> None:
        """Give up a claim before the work was done, so a retry may take it."""
        client = self._client()
        if client is not None:
            await client.eval(_RELEASE, 1, self._key(key), token, max(1, round(lease_seconds * 1000)), RELEASED)
        elif self._memory_get(self._key(key)) == token:
            self._memory.pop(self._key(key), None)

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
