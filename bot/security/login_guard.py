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
- an IPv6 client counts as its /64 network (``client``): one host may send from any address in it;
- a lock ends ``lockout_s`` after the failure that set it. While locked, every attempt is refused
  without its password being checked, and is not counted (it would let anyone keep an address locked);
- an attempt counts as a wrong password from the moment it is let through (``attempt``, one Redis
  script) until it succeeds: read first and counted after the slow password check, guesses sent all
  at once were each let through (found in review: 60 guesses at once, 60 passwords checked).
"""
from __future__ import annotations

import hashlib
import ipaddress
import logging

import redis.asyncio as redis

logger = logging.getLogger(__name__)

PREFIX = "kefu:security:login"
ADDRESS_FACTOR = 4  # one address may fail for several names (a shared office) before it is locked
KNOWN_S = 30 * 24 * 3600  # a name that signed in from an address is known there this long


def client(address: str) -> str:
    """The client an address stands for: an IPv6 address's /64 network (a host's own network, from which it may
    send from any address: found in review, a lock per address gave it unlimited guesses), else the address.

    Behind a trusted proxy Sanic gives an IPv6 client in brackets (``[2001:db8::1]``), and a ``Forwarded``
    header may add a port (``[2001:db8::1]:4711``, ``192.0.2.7:4711``): both are read as the address (found
    in review: in brackets it was no address, so behind nginx each address of a /64 was a client)."""
    text = address.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        parsed = ipaddress.ip_address(text)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(parsed), 64), strict=False))
    return str(parsed)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:24]


# KEYS: the name's count, the address's shares, the name known at the address; ARGV: max failures,
# address limit, lock-out seconds, the name's share field. 0: locked; else 1 (let through and counted),
# plus 2 when this attempt locks the name there, 4 when it locks the address.
_ATTEMPT = """
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count >= tonumber(ARGV[1]) then return 0 end
local shares = 0
for _, share in ipairs(redis.call('HVALS', KEYS[2])) do shares = shares + tonumber(share) end
if shares >= tonumber(ARGV[2]) and redis.call('EXISTS', KEYS[3]) == 0 then return 0 end
count = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('HINCRBY', KEYS[2], ARGV[4], 1)
redis.call('EXPIRE', KEYS[2], ARGV[3])
local answer = 1
if count == tonumber(ARGV[1]) then answer = answer + 2 end
if shares + 1 == tonumber(ARGV[2]) then answer = answer + 4 end
return answer
"""

# KEYS: the name's count, the address's shares; ARGV: the name's share field. Takes one counted attempt back.
_UNCOUNT = """
if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then redis.call('DECR', KEYS[1]) end
if tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0') > 0 then redis.call('HINCRBY', KEYS[2], ARGV[1], -1) end
"""


class LoginGuard:
    def __init__(self, client: redis.Redis, max_failures: int, lockout_s: int) -> None:
        self.redis = client
        self.max_failures = max_failures
        self.lockout_s = lockout_s

    def _name_key(self, name: str, address: str) -> str:
        return f"{PREFIX}:name_at:{_digest(name.lower() + chr(0) + client(address))}"

    def _address_key(self, address: str) -> str:
        """A hash per address: each name's wrong passwords there since it last signed in from there."""
        return f"{PREFIX}:address_names:{_digest(client(address))}"

    def _known_key(self, name: str, address: str) -> str:
        return f"{PREFIX}:known_at:{_digest(name.lower() + chr(0) + client(address))}"

    @property
    def address_limit(self) -> int:
        return self.max_failures * ADDRESS_FACTOR

    async def locked(self, name: str, address: str) -> bool:
        """Whether ``attempt`` would refuse the name from the address now (a read; nothing counted)."""
        count = await self.redis.get(self._name_key(name, address))
        if count is not None and int(count) >= self.max_failures:
            return True
        if sum(map(int, await self.redis.hvals(self._address_key(address)))) < self.address_limit:
            return False
        return not await self.redis.exists(self._known_key(name, address))

    async def attempt(self, name: str, address: str) -> bool:
        """Let one password check through, counted as wrong until ``succeeded``; False: locked, not counted."""
        answer = int(await self.redis.eval(_ATTEMPT, 3, self._name_key(name, address), self._address_key(address),
                                           self._known_key(name, address), self.max_failures, self.address_limit,
                                           self.lockout_s, _digest(name.lower())))
        if answer & 2:
            logger.warning("security.desk_login.locked key=name_at")
        if answer & 4:
            logger.warning("security.desk_login.locked key=address")
        return bool(answer & 1)

    async def unchecked(self, name: str, address: str) -> None:
        """The attempt let through was never checked (the database did not answer): it does not count."""
        await self.redis.eval(_UNCOUNT, 2, self._name_key(name, address), self._address_key(address),
                              _digest(name.lower()))

    async def succeeded(self, name: str, address: str) -> None:
        """The name's wrong passwords from this address were typos: they count no more, for either lock."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self._name_key(name, address))
            pipe.hdel(self._address_key(address), _digest(name.lower()))
            pipe.set(self._known_key(name, address), 1, ex=KNOWN_S)
            await pipe.execute()
