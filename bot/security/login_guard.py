"""Agent-desk sign-in: too many wrong passwords lock the name from that address (and the address) for a while.

The lock is per (name, client address), not per name: anyone who knows an agent's name could
otherwise lock the agent out on purpose. An address that fails for several names is locked too.
The client address is Sanic's ``request.remote_addr``, which reads proxy headers only as far as
Sanic is told to trust them (``SANIC_PROXIES_COUNT``, ``SANIC_REAL_IP_HEADER``,
``SANIC_FORWARDED_SECRET``; README "Behind a reverse proxy"), else the peer's address.

The rule, with counters in Redis so every Rasa worker agrees:
- a name is locked from an address after ``max_failures`` wrong passwords, each within
  ``lockout_s`` of the one before; a right password from there starts its count again;
- an address is locked for every name after ``ADDRESS_FACTOR`` times as many wrong passwords by
  names that have not signed in from it since: an agent's typo followed by their right password
  no longer counts, so in an office behind one address the typos of a day do not add up to a
  lock-out of every agent, while a guesser trying many names (and never getting in) is stopped;
- a name that has signed in from an address (within ``KNOWN_S``) is not kept out by that address's
  lock, only by its own: a guesser at the office's address does not lock out the agents who work there;
- a lock ends ``lockout_s`` after the failure that set it. While locked, every attempt is refused
  without its password being checked, and is not counted (it would let anyone keep an address locked).
"""
from __future__ import annotations

import hashlib
import logging

import redis.asyncio as redis

logger = logging.getLogger(__name__)

PREFIX = "kefu:security:login"
ADDRESS_FACTOR = 4  # one address may fail for several names (a shared office) before it is locked
KNOWN_S = 30 * 24 * 3600  # a name that signed in from an address is known there this long


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:24]


class LoginGuard:
    def __init__(self, client: redis.Redis, max_failures: int, lockout_s: int) -> None:
        self.redis = client
        self.max_failures = max_failures
        self.lockout_s = lockout_s

    def _name_key(self, name: str, address: str) -> str:
        return f"{PREFIX}:name_at:{_digest(name.lower() + chr(0) + address)}"

    def _address_key(self, address: str) -> str:
        """A hash per address: each name's wrong passwords there since it last signed in from there."""
        return f"{PREFIX}:address_names:{_digest(address)}"

    def _known_key(self, name: str, address: str) -> str:
        return f"{PREFIX}:known_at:{_digest(name.lower() + chr(0) + address)}"

    @property
    def address_limit(self) -> int:
        return self.max_failures * ADDRESS_FACTOR

    async def locked(self, name: str, address: str) -> bool:
        count = await self.redis.get(self._name_key(name, address))
        if count is not None and int(count) >= self.max_failures:
            return True
        if sum(map(int, await self.redis.hvals(self._address_key(address)))) < self.address_limit:
            return False
        return not await self.redis.exists(self._known_key(name, address))

    async def failed(self, name: str, address: str) -> None:
        name_key, address_key = self._name_key(name, address), self._address_key(address)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(name_key)
            pipe.expire(name_key, self.lockout_s)
            pipe.hincrby(address_key, _digest(name.lower()), 1)
            pipe.expire(address_key, self.lockout_s)
            pipe.hvals(address_key)
            count, _, _, _, shares = await pipe.execute()
        if int(count) == self.max_failures:
            logger.warning("security.desk_login.locked key=name_at")
        if sum(map(int, shares)) == self.address_limit:
            logger.warning("security.desk_login.locked key=address")

    async def succeeded(self, name: str, address: str) -> None:
        """The name's wrong passwords from this address were typos: they count no more, for either lock."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self._name_key(name, address))
            pipe.hdel(self._address_key(address), _digest(name.lower()))
            pipe.set(self._known_key(name, address), 1, ex=KNOWN_S)
            await pipe.execute()
