"""A per-conversation lock in Redis that never blocks the event loop and hands over at once.

Rasa serialises the turns of one conversation with a lock. Its ``RedisLockStore`` talks to Redis
with the blocking client on the server's event loop (several round trips per turn) and a waiting
message looks again only once a second, so a second message from the same customer waits up to a
second longer than it needs. This lock is first come, first served like Rasa's ticket lock:

* a message queues its token in a Redis list (one per conversation); the head holds the lock;
* waiters look again after 10 ms, longer the further back they are in line;
* the holder holds a short lease (``LEASE_S``) and renews it while its turn runs, so a holder that
  dies (a killed worker) blocks the conversation for seconds, not Rasa's 60 s ``lock_lifetime``.
  A thread of the process renews the leases of all its turns (``bot.renewing_thread``), not the
  event loop: a loop held up for longer than the lease (a long synchronous step, a model predicting
  on it, GC) let the lease lapse, and the customer's next message ran a second turn of the
  conversation beside the first. A live turn stops renewing after ``lock_lifetime``, as in Rasa, so
  a hung turn never blocks the conversation for good; a renewal that fails (Redis stalled past its
  timeout) is tried again within moments rather than given up, and sets a lease that lapsed
  meanwhile again only while the token still holds the lock (in the script: nobody took it);
* a turn that failed (Redis down or hanging) releases in the background, so its apology does not
  wait for a second Redis timeout (bot/redis_reconnect.py); if the release fails too, the lease
  runs out;
* fencing: a Redis that hangs for longer than two leases lets the lock's record expire however well
  the holder renews, and the conversation's next message can take the lock while the first turn still
  runs. A lease cannot prevent that; what matters is that the turn that lost its lock writes nothing.
  ``lock()`` puts its token in a context variable (:func:`fence_for`), and the tracker store's save
  checks it in the same Lua script as its append (``HOLDS``): a turn whose lock is now somebody
  else's raises :class:`LockLost` and stores none of its events (the turn guard runs the message again
  under a fresh lock, ``bot.observability.rasa_guards``). Whoever finds the lock's record gone (expired
  in the hang, nobody took it since) takes it back, renewal and save alike, so a hang alone costs
  nothing; a released lock leaves an empty holder (``token`` ''), so a renewal that arrives after the
  release never takes it back. A channel that sends replies as the turn goes (the web chat) checks the
  lock before each (:func:`confirm_held`: free while the lease was confirmed lately), so a turn that lost
  its lock stops at its first reply rather than showing it. The fence needs the lock in the tracker store's own Redis and database
  (``endpoints.yml`` points both at the same by default; whether they are is asked of the servers once per
  process, ``bot.same_redis``, whatever the addresses' spelling): a tracker store elsewhere cannot check it
  atomically, so it stores unfenced and logs ``lock.fence_disabled`` (``bot.tracker_store``).

``endpoints.yml``: ``lock_store: {type: bot.lock_store.AsyncRedisLockStore, url, port, db,
password, key_prefix}``. Several workers and machines share it through Redis.
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import AsyncGenerator, Mapping, Optional, Text

import redis.asyncio as aioredis
from rasa.core.lock_store import LOCK_LIFETIME, LockError, LockStore
from rasa.utils.endpoints import EndpointConfig
from redis.exceptions import RedisError

from bot.redis_reconnect import reconnecting, timeouts
from bot.renewing_thread import RenewingThread

logger = logging.getLogger(__name__)

POLL_S = 0.01
MAX_POLL_S = 0.25
LEASE_S = 5.0  # a dead holder's conversation waits at most this long
RENEW_RETRY_S = 0.05  # after a renewal failed: the lease is running out
# Of a lease, the share after a look that found the lock ours in which it is trusted without asking Redis
# again (:func:`confirm_held`); the rest covers the look's own trip and clocks that run apart.
TRUSTED_SHARE = 0.8

_NOW = "local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000)\n"
# KEYS: line (list), holder (hash token/until). ARGV: token, lifetime ms, 1 = join the line.
# Returns {1, 0} when the lock is ours, {0, place in line} otherwise, {-1, 0} if we were dropped.
ACQUIRE = _NOW + """
local lifetime = tonumber(ARGV[2])
-- once: a join sent again after its answer was lost (bot/redis_reconnect.py) keeps its first place
if ARGV[3] == '1' and not redis.call('LPOS', KEYS[1], ARGV[1]) then redis.call('RPUSH', KEYS[1], ARGV[1]) end
redis.call('PEXPIRE', KEYS[1], lifetime * 2)
for _ = 1, 100 do
  local head = redis.call('LINDEX', KEYS[1], 0)
  if not head then return {-1, 0} end
  local owner = redis.call('HGET', KEYS[2], 'token')
  if owner ~= head then
    redis.call('HSET', KEYS[2], 'token', head, 'until', now + lifetime)
    redis.call('PEXPIRE', KEYS[2], lifetime * 2)
    owner = head
  end
  if head == ARGV[1] then return {1, 0} end
  if tonumber(redis.call('HGET', KEYS[2], 'until')) >= now then
    local place = redis.call('LPOS', KEYS[1], ARGV[1])
    if not place then return {-1, 0} end
    return {0, place}
  end
  redis.call('LPOP', KEYS[1])  -- the holder outlived its lock: the next in line goes
end
return {0, 1}
"""
# KEYS: line, holder. ARGV: token, lifetime ms. Leaves the line; the next in line holds the lock. With
# nobody next, the holder stays, empty, for a lease: it was released, not lost (see ``HOLDS``).
RELEASE = _NOW + """
redis.call('LREM', KEYS[1], 0, ARGV[1])
if redis.call('HGET', KEYS[2], 'token') == ARGV[1] then
  local head = redis.call('LINDEX', KEYS[1], 0)
  if head then
    redis.call('HSET', KEYS[2], 'token', head, 'until', now + tonumber(ARGV[2]))
  else
    redis.call('HSET', KEYS[2], 'token', '', 'until', 0)
    redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[2]) * 2)
  end
end
return 1
"""
# Lua, after _NOW: whether ``token`` holds the lock (line, holder), its lease renewed if so. A lock whose
# record expired (Redis hung past two leases) and that nobody took since is taken back; one released
# (token '') or held by another is not. Used by the renewal and, as the fence, by the tracker's save.
HOLDS = """
local function holds(line, holder, token, lease)
  local owner = redis.call('HGET', holder, 'token')
  if owner ~= token then
    if owner then return false end
    local head = redis.call('LINDEX', line, 0)
    if head and head ~= token then return false end
    if not head then redis.call('RPUSH', line, token) end
    redis.call('HSET', holder, 'token', token)
  end
  redis.call('HSET', holder, 'until', now + lease)
  redis.call('PEXPIRE', holder, lease * 2)
  redis.call('PEXPIRE', line, lease * 2)
  return true
end
"""
FENCE = _NOW + HOLDS  # what a script that checks the lock begins with
# KEYS: line, holder. ARGV: token, lease ms. Renews the lease while the token still holds the lock.
RENEW = FENCE + """
if holds(KEYS[1], KEYS[2], ARGV[1], tonumber(ARGV[2])) then return 1 end
return 0
"""


class LockLost(LockError, RedisError):
    """The turn's conversation lock is somebody else's now (its record expired while Redis hung, and
    the conversation's next message took it): the turn must not store what it did. A ``RedisError``
    too, so whatever handles Redis trouble (the desk's writes into a conversation) handles this."""


@dataclass
class Fence:
    """What a turn's save checks: that ``token`` still holds the lock at ``keys`` (line, holder)."""
    keys: list[str]
    token: str
    lease_ms: int
    active: bool = True  # False once released: a task the turn started and that saves later is not fenced
    confirmed_at: float = 0.0  # monotonic time a look that found the lock ours was sent (acquire, renewal)
    store: Optional["AsyncRedisLockStore"] = field(default=None, repr=False, compare=False)  # the lock's Redis


_FENCES: ContextVar[Mapping[str, Fence]] = ContextVar("kefu_conversation_locks", default={})


def fence_for(conversation_id: Text) -> Optional[Fence]:
    """The lock this task holds on ``conversation_id`` (through ``AsyncRedisLockStore.lock``), if any."""
    fence = _FENCES.get().get(conversation_id)
    return fence if fence is not None and fence.active else None


async def confirm_held(conversation_id: Text) -> None:
    """Raise ``LockLost`` when the lock this task holds on ``conversation_id`` is somebody else's now: before
    a channel that sends as it goes (the web chat) shows a reply of a turn whose save will be refused.
    Free while the lock was found ours within ``TRUSTED_SHARE`` of a lease (the renewing thread looks every
    third); only a turn past that (Redis hung, the process frozen) asks Redis, in one round trip."""
    fence = fence_for(conversation_id)
    if fence is not None and fence.store is not None:
        await fence.store.confirm(fence)


class AsyncRedisLockStore(LockStore):
    """See the module docstring."""

    def __init__(self, endpoint_config: Optional[EndpointConfig] = None, *, host: Text = "localhost",
                 port: int = 6379, db: int = 0, password: Optional[Text] = None,
                 key_prefix: Optional[Text] = "kefu") -> None:
        if endpoint_config is not None:
            options = endpoint_config.kwargs
            host = endpoint_config.url or host
            port, db = options.get("port", port), options.get("db", db)
            password, key_prefix = options.get("password", password), options.get("key_prefix", key_prefix)
        self._address = {"host": host, "port": int(port), "db": int(db), "password": password or None}
        self.redis = aioredis.Redis(**self._address, **reconnecting())
        self.prefix = f"{key_prefix or 'kefu'}:lock:"
        self._acquire = self.redis.register_script(ACQUIRE)
        self._release = self.redis.register_script(RELEASE)
        self._renew = self.redis.register_script(RENEW)
        self._releasing: set[asyncio.Task] = set()
        self._held: dict[str, tuple[list[str], int, float, Fence]] = {}  # token: keys, lease ms, renewed until, fence
        self._held_lock = threading.Lock()  # the loop adds and removes, the renewing thread reads
        self._renewer = RenewingThread("conversation locks", self._sync_client, self._renew_held, self._every_s,
                                       "lock.renew_failed", retry_s=RENEW_RETRY_S)
        super().__init__()

    def _keys(self, conversation_id: Text) -> list[str]:
        return [self.prefix + conversation_id + ":line", self.prefix + conversation_id + ":holder"]

    @asynccontextmanager
    async def lock(self, conversation_id: Text, lock_lifetime: float = LOCK_LIFETIME,
                   wait_time_in_seconds: float = 1) -> AsyncGenerator[None, None]:
        keys, token = self._keys(conversation_id), uuid.uuid4().hex
        lease_ms = int(min(LEASE_S, lock_lifetime) * 1000)
        join, holding, failed = "1", False, False
        try:
            while True:
                sent = time.monotonic()
                got, place = await self._acquire(keys=keys, args=[token, lease_ms, join])
                join = "1" if got == -1 else "0"  # dropped from the line (we stalled): queue again
                if got == 1:
                    break
                await asyncio.sleep(min(MAX_POLL_S, POLL_S * max(1, place)))
            fence = Fence(keys, token, lease_ms, confirmed_at=sent, store=self)
            with self._held_lock:
                self._held[token] = (keys, lease_ms, time.monotonic() + lock_lifetime, fence)
            holding = True
            self._renewer.start()
            outer = _FENCES.get().get(conversation_id)
            _FENCES.set({**_FENCES.get(), conversation_id: fence})
            try:
                yield None
            finally:
                # Not a reset token: entered through asyncio.wait_for, the lock was set in another
                # task's context (and fences nothing), and leaves in this one.
                fence.active = False
                fences = _FENCES.get()
                if fences.get(conversation_id) is fence:
                    _FENCES.set({**fences, conversation_id: outer} if outer else
                                {name: kept for name, kept in fences.items() if name != conversation_id})
        except BaseException:
            failed = True
            raise
        finally:
            if holding:
                with self._held_lock:
                    self._held.pop(token, None)
            release = self._release(keys=keys, args=[token, lease_ms])
            if failed:  # maybe Redis hangs: the apology must not wait for the release's timeout as well
                self._release_later(release)
            else:
                await asyncio.shield(release)

    async def confirm(self, fence: Fence) -> None:
        """See :func:`confirm_held`. A look that finds the record expired and nobody in it takes it back
        (``HOLDS``), as the renewal does."""
        if time.monotonic() - fence.confirmed_at < fence.lease_ms / 1000 * TRUSTED_SHARE:
            return
        sent = time.monotonic()
        if not await self._renew(keys=fence.keys, args=[fence.token, fence.lease_ms]):
            raise LockLost(f"the lock on {fence.keys[1]} was taken by another turn")
        fence.confirmed_at = max(fence.confirmed_at, sent)

    def _release_later(self, release) -> None:
        task = asyncio.ensure_future(release)
        self._releasing.add(task)  # kept until done (the loop holds tasks weakly)
        task.add_done_callback(self._released)

    def _released(self, task: asyncio.Task) -> None:
        self._releasing.discard(task)
        if not task.cancelled() and task.exception() is not None:  # the lease runs out on its own
            logger.warning("lock.release_failed error=%s", type(task.exception()).__name__)

    def _sync_client(self):
        import redis

        return redis.Redis(**self._address, **timeouts())

    def _every_s(self) -> float:
        """A third of the shortest lease held (of ``LEASE_S`` while none is)."""
        with self._held_lock:
            lease_ms = min((lease for _, lease, _, _ in self._held.values()), default=LEASE_S * 1000)
        return lease_ms / 3000

    def _renew_held(self, client) -> None:
        """The renewing thread's round: renew the leases of the turns running here, in one round trip.

        A turn running longer than its ``lock_lifetime`` is no longer renewed (its lease lapses, as in Rasa),
        nor one whose lock somebody else holds now (its lease ran out while Redis hung, and it was taken)."""
        now = time.monotonic()
        with self._held_lock:
            for token in [token for token, (_, _, until, _) in self._held.items() if until <= now]:
                del self._held[token]
            held = list(self._held.items())
        if not held:
            return
        renew = client.register_script(RENEW)
        with client.pipeline(transaction=False) as pipe:
            for token, (keys, lease_ms, _, _) in held:
                renew(keys=keys, args=[token, lease_ms], client=pipe)
            sent = time.monotonic()
            renewed = pipe.execute()
        for (token, (_, _, _, fence)), kept in zip(held, renewed):
            if kept:
                fence.confirmed_at = max(fence.confirmed_at, sent)  # a float: set whole under the GIL
            else:
                with self._held_lock:
                    running = self._held.pop(token, None) is not None  # else released meanwhile
                if running:
                    logger.warning("lock.taken_from_here")

    # Rasa's LockStore API besides lock(); Rasa itself only calls lock().
    def get_lock(self, conversation_id: Text):
        raise LockError("AsyncRedisLockStore keeps no TicketLock objects; use lock()")

    def delete_lock(self, conversation_id: Text) -> None:
        raise LockError("AsyncRedisLockStore locks are released by lock()")

    def save_lock(self, lock) -> None:
        raise LockError("AsyncRedisLockStore locks are saved by lock()")
