"""The web chat's limits per client address: connections open at once, and new sessions a minute.

Without them one client could open any number of Socket.IO connections, each with its own allowance
of sessions and messages, and fill Redis (every turn keeps its conversation for 30 days; with
``noeviction`` a full Redis stops every channel). Both are counted in Redis, so every worker of every
machine agrees; a worker keeps in memory only which of its own sockets it vouches for.

The client (:func:`client_of`) is Sanic's ``remote_addr``, which reads a forwarding header only when
Sanic is told to trust the proxy (``SANIC_PROXIES_COUNT``, ``SANIC_REAL_IP_HEADER``,
``SANIC_FORWARDED_SECRET``; README "Behind a reverse proxy"), else the connecting peer's address: an
``X-Forwarded-For`` a client writes itself counts for nothing. An IPv6 client counts as its /64
(``login_guard.client``: one host may send from any address in it).

Connections (``KEFU_WEBCHAT_CONNECTIONS_PER_ADDRESS``): a sorted set per client, socket id -> when its
worker last vouched for it (ms). One script lets a connection in: it drops the sockets nobody vouched
for in ``STALE_S``, counts the rest, and adds the new one if there is room. A socket is taken out when
it disconnects (with Redis failing then, at the worker's next renewal); each worker vouches for its open
sockets every ``RENEW_S``, so those of a worker that died (no disconnect ran) stop counting ``STALE_S``
later, and the key itself expires then.

A page that lost its network (a lift, a tunnel) connects again as soon as it is back, while its old
socket stays open on the server until the heartbeat gives up on it (ping interval + timeout, about
45 s): it counted twice meanwhile, and a page reconnecting to an address at its limit was refused for
its own old socket. Kefu's chat page therefore sends a page id (:func:`page_of`: random, one per page
load, kept across its reconnections) with each connection: a new connection of the same page takes
the count of the socket the page had open before (the page's key holds it, and the address it counted
for), and that socket is closed (on whichever worker holds it). The page's address may have changed
meanwhile (Wi-Fi to 4G): the old address's count is given back at once all the same. A page id reused
by a script buys it nothing: each connection with it closes the one before. A widget that sends none
is counted per connection. The id is a bearer's: whoever learns it can close the page's socket (the page
reconnects at once, and resends what was not acknowledged); it travels only inside the page's connection,
and Redis holds a digest of it (:func:`page_key`), not the id.

New sessions (``KEFU_WEBCHAT_SESSIONS_PER_ADDRESS_PER_MINUTE``): a sliding minute (``rate_window``),
counting sessions started, not resumed. Without it a client reconnecting after every
``SESSION_REQUESTS_PER_MINUTE`` sessions started conversations without end. A refused request is not
counted: a script that keeps trying keeps nobody behind its address out a minute after it stops.

The phone counts the calls nobody vouched for that one address holds at once the same way
(``AddressLimits(prefix=..., name="ivr.unvouched")``, one call id per lease: bot/channels/ivr.py).

A limit of 0 is off. Without a shared Redis (a unit test) nothing is limited; with Redis failing,
everything is let through (the turn itself then tells the customer). A Redis that hangs answers each
check only with ``KEFU_REDIS_TIMEOUT_SECONDS``' timeout: once one check has met it (or a refused
connection), the worker lets every page through unchecked for ``UNREACHABLE_S`` without asking Redis,
instead of each customer waiting out the timeout at connect and again at a new session. A socket let in
unchecked (a check that failed, or was skipped) is counted at the worker's first renewal that Redis answers,
over the limit if need be (nobody is closed to make room for it; the address's next connections wait until
it is under): else every page let in during an outage went uncounted for as long as it stayed open, and an
address could open its whole limit again on top of them. Otherwise it is counted as it would have been on
time, its page's key written and the page's previous socket closed, unless the page has connected again
since (its key names a socket let in after it): that one is the page's now, and the one counted late is
closed, as the newer would have closed it on time (else a page back from a lost network before the renewal
counted twice until its old socket's heartbeat gave up); its count is given back as it closes.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from typing import Any, Callable, Optional

from redis.exceptions import ConnectionError as RedisConnectionError, RedisError, TimeoutError as RedisTimeoutError
from sanic.request import Request

from bot import rate_window
from bot.security.login_guard import client as network_of
from bot.security.loopback import proxied

logger = logging.getLogger(__name__)

PREFIX = "kefu:webchat:address"
STALE_S = 90  # a socket not vouched for this long (its worker died) no longer counts
RENEW_S = 30  # how often a worker vouches for its open sockets
UNREACHABLE_S = 5  # after a check found Redis unreachable, checks let pages in without asking it this long
LOG_EVERY_S = 60  # one log line per client and refusal reason a minute, per worker (a flood logs once)

TOO_MANY_CONNECTIONS = "too_many_connections"
TOO_MANY_SESSIONS = "too_many_sessions"

PAGE_ID = re.compile(r"[0-9a-f]{16,64}")  # the chat page's: random hex, one per page load

# KEYS[1]: the client's sockets; KEYS[2], if given: the connecting page's key, holding the socket the page
# had open last, the sockets key it counted in and when it was let in ("<sid> <key> <ms>"; a page's address
# may have changed since: Wi-Fi to 4G; a key written before the time was kept reads as let in at 0). ARGV:
# now (ms), the oldest score still stale (ms), the limit (-1: none, a socket let in unchecked counted late),
# the socket, the expiry (ms), when the socket was let in (ms). Returns {1: let in (counted) | 0: the client
# has its limit of sockets open, the socket to close: the page's previous one or ""}; a previous socket that
# counted, at this address or its old one, no longer does (the old address's key is read from the page's, not
# given in KEYS: Kefu's Redis is one server, not a cluster). A socket counted late whose page was let in again
# since (its key names a socket let in after it) is the page's past one: counted until it closes, and the
# socket to close is itself; the page's key and its newer socket stay.
_ADMIT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local kept = KEYS[2] and redis.call('GET', KEYS[2])
local previous, counted_in, since = false, KEYS[1], nil
if kept then previous, counted_in, since = string.match(kept, '^(%S+) (%S+) ?(%d*)$') end
if previous and tonumber(ARGV[3]) < 0 and (tonumber(since) or 0) > tonumber(ARGV[6]) then
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  return {1, ARGV[4]}
end
if previous == ARGV[4] then previous = false end
local replaced = previous and counted_in == KEYS[1] and redis.call('ZSCORE', KEYS[1], previous) and 1 or 0
local limit = tonumber(ARGV[3])
if limit >= 0 and redis.call('ZCARD', KEYS[1]) - replaced >= limit then return {0, ''} end
if previous then redis.call('ZREM', counted_in, previous) end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
if KEYS[2] then redis.call('SET', KEYS[2], ARGV[4] .. ' ' .. KEYS[1] .. ' ' .. ARGV[6], 'PX', ARGV[5]) end
return {1, previous or ''}
"""
LATE = -1  # _ADMIT's limit for a socket let in unchecked: counted over the limit if need be


def _text(answer: Any) -> str:
    """A socket id as Redis answered it (bytes, or str with ``decode_responses``)."""
    return answer.decode() if isinstance(answer, bytes) else (answer or "")


def client_of(request: Optional[Request]) -> str:
    """The client a Socket.IO connection counts for: its address as Sanic trusts it (a proxy's only when
    Sanic is told to trust it), an IPv6 address as its /64; "" when there is none to tell."""
    if request is None:
        return ""
    return network_of(getattr(request, "remote_addr", "") or request.ip or "")


def page_of(auth: Any) -> Optional[str]:
    """The page id a connection's Socket.IO ``auth`` carries (``{"page": "<hex>"}``), None without a valid one."""
    page = auth.get("page") if isinstance(auth, dict) else None
    return page if isinstance(page, str) and PAGE_ID.fullmatch(page) else None


def _digest(client: str) -> str:
    return hashlib.sha256(client.encode()).hexdigest()[:24]


def connections_key(client: str, prefix: str = PREFIX) -> str:
    return f"{prefix}:connections:{_digest(client)}"


def page_key(page: str) -> str:
    """The page's, whatever its address: a page back from another network (Wi-Fi to 4G) is the same page.
    Named by a digest of the id, never the id: whoever can list Redis's keys (a monitoring login, a backup)
    could connect with a page's id and close its socket from anywhere."""
    return f"{PREFIX}:pages:{_digest(page)}"


def sessions_key(client: str, prefix: str = PREFIX) -> str:
    return f"{prefix}:sessions:{_digest(client)}"


class AddressLimits:
    """One worker's view of the limits; ``redis`` gives its client (None: no shared Redis). ``prefix``: of
    the Redis keys, ``name``: of the log lines (the web chat's by default)."""

    def __init__(self, redis: Callable[[], object], connections: int, sessions_per_minute: int, *,
                 stale_s: float = STALE_S, renew_s: float = RENEW_S, unreachable_s: float = UNREACHABLE_S,
                 clock: Callable[[], float] = time.time, prefix: str = PREFIX, name: str = "webchat") -> None:
        self.redis = redis
        self.prefix = prefix
        self.name = name
        self.connections = connections
        self.sessions_per_minute = sessions_per_minute
        self.stale_s = stale_s
        self.renew_s = renew_s
        self.unreachable_s = unreachable_s
        self.clock = clock
        self._unchecked_until = float("-inf")  # this worker's checks skip Redis until then (it did not answer)
        self._vouched: dict[str, str] = {}  # this worker's open sockets: socket id -> its client's key
        self._pages: dict[str, str] = {}  # those of them a page said it was: socket id -> the page's key
        self._unreleased: dict[str, str] = {}  # closed while Redis failed: given back at the next renewal
        self._uncounted: dict[str, tuple[str, int]] = {}  # let in unchecked (its client's key, when: ms): counted
        # at the next renewal Redis answers
        self._logged: dict[tuple[str, str], float] = {}

    async def admit(self, sid: str, client: str, *, page: Optional[str] = None, request: Optional[Request] = None,
                    replaced: Optional[Callable[[str], Any]] = None) -> bool:
        """Count the socket ``sid`` for ``client`` if it has fewer than its limit open; False: refused. A
        socket of ``page`` takes the place of the page's previous one, which is then given to ``replaced``
        (to be closed; not awaited)."""
        redis = self.redis()
        if not self.connections or redis is None:
            return True
        key, now_ms = connections_key(client, self.prefix), round(self.clock() * 1000)
        stale_ms = round(self.stale_s * 1000)
        keys = [key, page_key(page)] if page else [key]
        # Vouched for before Redis answers: a count whose answer came too late (Redis slow: let in unchecked)
        # or never (the page gone meanwhile) is counted all the same once Redis gets to it, and was then
        # nobody's to give back, counting until STALE_S.
        self._vouched[sid] = key
        if page:
            self._pages[sid] = keys[1]
        if self.unreachable():
            self._uncounted[sid] = (key, now_ms)
            return True
        try:
            admitted, previous = await redis.eval(_ADMIT, len(keys), *keys, now_ms, now_ms - stale_ms,
                                                  self.connections, sid, stale_ms, now_ms)
        except RedisError as error:
            self._uncounted[sid] = (key, now_ms)
            self._failed(error, "connection")
            return True
        if int(admitted):
            self._replace(sid, previous, replaced)
            return True
        self._vouched.pop(sid, None)
        self._pages.pop(sid, None)
        self._refused(TOO_MANY_CONNECTIONS, client, self.connections, request)
        return False

    def _replace(self, sid: str, previous: Any, replaced: Optional[Callable[[str], Any]]) -> None:
        """``sid`` took the place of its page's ``previous`` socket (none: b"" or ""): that one is closed;
        ``sid`` itself when it was counted late and its page has a newer socket."""
        previous = _text(previous)
        if previous == sid and replaced is not None:  # counted late, its page back since through a newer one
            logger.info("%s.address.superseded sid=%s hint=its page connected again before it was counted",
                        self.name, sid)
            replaced(sid)
        elif previous and replaced is not None:
            logger.info("%s.address.replaced sid=%s previous=%s", self.name, sid, previous)
            replaced(previous)

    async def release(self, sid: str) -> None:
        """The socket ``sid`` closed: its client may open another (nothing for one never counted)."""
        key = self._vouched.pop(sid, None)
        self._pages.pop(sid, None)  # its key expires STALE_S after the last renewal
        uncounted = self._uncounted.pop(sid, None) is not None
        redis = self.redis()
        if key is None or redis is None:
            return
        if uncounted and self.unreachable():  # not waited for: given back, if Redis took it, at the next renewal
            self._unreleased[sid] = key
            return
        try:
            await redis.zrem(key, sid)
        except RedisError as error:  # given back at the next renewal (it counted until STALE_S after the last)
            self._unreleased[sid] = key
            logger.warning("%s.address.not_released error=%s", self.name, type(error).__name__)

    async def new_session(self, client: str, *, request: Optional[Request] = None) -> bool:
        """Count a session started by ``client`` if it started fewer than its limit in the last minute."""
        redis = self.redis()
        if not self.sessions_per_minute or redis is None or self.unreachable():
            return True
        try:
            taken = await rate_window.take(redis, sessions_key(client, self.prefix), limit=self.sessions_per_minute,
                                           window_s=60, now=self.clock())
        except RedisError as error:
            self._failed(error, "session")
            return True
        if taken is None:
            self._refused(TOO_MANY_SESSIONS, client, self.sessions_per_minute, request)
        return taken is not None

    async def renew(self, connected: Callable[[str], bool], replaced: Optional[Callable[[str], Any]] = None) -> None:
        """Vouch for this worker's sockets that are still ``connected``, and count those let in unchecked (as
        :meth:`admit` would have, their page's previous socket given to ``replaced``, or the socket itself if its
        page has a newer one); give back the others (one that closed while it was being let in, before it was
        counted, ran its disconnect too early)."""
        gone = [sid for sid in self._vouched if not connected(sid)]
        for sid in gone:
            await self.release(sid)
        redis = self.redis()
        if redis is None:
            return
        for sid, key in list(self._unreleased.items()):
            await redis.zrem(key, sid)
            self._unreleased.pop(sid, None)
        if not self._vouched:
            return
        now_ms, stale_ms = round(self.clock() * 1000), round(self.stale_s * 1000)
        uncounted = dict(self._uncounted)
        late: list[tuple[str, int]] = []  # pages let in unchecked, counted by _ADMIT: where its answer is
        async with redis.pipeline(transaction=False) as pipe:
            for sid, key in self._vouched.items():
                if sid in uncounted and sid in self._pages:
                    late.append((sid, len(pipe)))
                    pipe.eval(_ADMIT, 2, key, self._pages[sid], now_ms, now_ms - stale_ms, LATE, sid, stale_ms,
                              uncounted[sid][1])
                    continue
                # One counted already is only renewed: one closed meanwhile is not counted again.
                pipe.zadd(key, {sid: now_ms}, xx=sid not in uncounted)
                pipe.pexpire(key, stale_ms)
                if sid in self._pages:  # a page back after STALE_S still takes its old socket's place
                    pipe.pexpire(self._pages[sid], stale_ms)
            answers = await pipe.execute()
        for sid, answer in late:
            self._replace(sid, answers[answer][1], replaced)
            if _text(answers[answer][1]) == sid:  # the page is back through a newer socket: not the page's now
                self._pages.pop(sid, None)
        for sid, (key, _let_in_ms) in uncounted.items():
            self._uncounted.pop(sid, None)
            if sid not in self._vouched:  # closed while it was being counted: its release may have come first
                await redis.zrem(key, sid)
        if uncounted:
            logger.info("%s.address.counted_late sockets=%d hint=let in unchecked while Redis failed", self.name,
                        len(uncounted))

    @property
    def counted(self) -> int:
        """How many of this worker's sockets count now (or will once Redis answers)."""
        return len(self._vouched)

    async def renew_forever(self, connected: Callable[[str], bool],
                            replaced: Optional[Callable[[str], Any]] = None) -> None:
        while True:
            await asyncio.sleep(self.renew_s)
            try:
                await self.renew(connected, replaced)
            except RedisError as error:  # tried again next time; STALE_S allows a few misses
                logger.warning("%s.address.not_renewed error=%s", self.name, type(error).__name__)

    async def release_all(self) -> None:
        """The worker is stopping: its sockets no longer count (else only STALE_S later)."""
        for sid in list(self._vouched):
            await self.release(sid)

    def unreachable(self) -> bool:
        """Whether a check met an unreachable Redis less than ``unreachable_s`` ago (let in unchecked)."""
        return self.clock() < self._unchecked_until

    def _failed(self, error: RedisError, what: str) -> None:
        """A check failed (let in unchecked): if Redis did not answer, the next checks do not ask it for a while."""
        unreachable = isinstance(error, (RedisConnectionError, RedisTimeoutError))
        if unreachable:
            self._unchecked_until = self.clock() + self.unreachable_s
        logger.warning("%s.address.unchecked what=%s error=%s%s", self.name, what, type(error).__name__,
                       f" unchecked_for_s={self.unreachable_s:g}" if unreachable else "")

    def _refused(self, reason: str, client: str, limit: int, request: Optional[Request]) -> None:
        now = time.monotonic()
        if now - self._logged.get((reason, client), -LOG_EVERY_S) < LOG_EVERY_S:
            return
        if len(self._logged) > 10_000:
            self._logged.clear()
        self._logged[(reason, client)] = now
        # Every client behind one address that is a proxy's: SANIC_PROXIES_COUNT is not set (README).
        untrusted = request is not None and proxied(request) and not getattr(request, "remote_addr", "")
        logger.warning("%s.%s.refused reason=%s client=%s limit=%d%s", self.name,
                       "connection" if reason == TOO_MANY_CONNECTIONS else "session", reason, client or "-", limit,
                       " proxy_not_trusted=yes" if untrusted else "")
