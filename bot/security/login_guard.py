"""Agent-desk sign-in: too many wrong passwords lock the name from that address (and the address) for a while.

The lock is per (name, client address), not per name: anyone who knows an agent's name could
otherwise lock the agent out on purpose. An address that fails for several names is locked too.
The client address is Sanic's ``request.remote_addr``, which reads proxy headers only as far as
Sanic is told to trust them (``SANIC_PROXIES_COUNT``, ``SANIC_REAL_IP_HEADER``,
``SANIC_FORWARDED_SECRET``; README "Behind a reverse proxy"), else the peer's address.

Counters live in Redis so every Rasa worker agrees. Each failure renews the lock-out period, so
a password guesser stays locked out for as long as they keep guessing; while locked, even the
right password is refused (it is not checked at all).
"""
from __future__ import annotations

import hashlib
import logging

import redis.asyncio as redis

logger = logging.getLogger(__name__)

PREFIX = "kefu:security:login"
ADDRESS_FACTOR = 4  # one address may fail for several names (a shared office) before it is locked


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:24]


class LoginGuard:
    def __init__(self, client: redis.Redis, max_failures: int, lockout_s: int) -> None:
        self.redis = client
        self.max_failures = max_failures
        self.lockout_s = lockout_s

    def _keys(self, name: str, address: str) -> list[tuple[str, int]]:
        return [(f"{PREFIX}:name_at:{_digest(name.lower() + chr(0) + address)}", self.max_failures),
                (f"{PREFIX}:address:{_digest(address)}", self.max_failures * ADDRESS_FACTOR)]

    async def locked(self, name: str, address: str) -> bool:
        for key, limit in self._keys(name, address):
            count = await self.redis.get(key)
            if count is not None and int(count) >= limit:
                return True
        return False

    async def failed(self, name: str, address: str) -> None:
        for key, limit in self._keys(name, address):
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.incr(key)
                pipe.expire(key, self.lockout_s)
                count, _ = await pipe.execute()
            if int(count) == limit:
                logger.warning("security.desk_login.locked key=%s", key.rsplit(":", 2)[-2])

    async def succeeded(self, name: str, address: str) -> None:
        await self.redis.delete(self._keys(name, address)[0][0])
