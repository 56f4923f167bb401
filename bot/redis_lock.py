"""A Redis lock held by a token: freed only by whoever holds it. A holder that outlived its lease must
not free the lock another process took since (the waiting room's tick, the outcome drainer, the kept
requests' drainer all lock this way), and a block run under redis-py's own lock (``held``)."""
from __future__ import annotations

import contextlib
from typing import AsyncIterator

from redis.exceptions import LockError

RELEASE_IF_HOLDER = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
# Longer for whoever holds it, and never taken again once freed: a renewal from another thread that arrives
# after the release must not lock everyone out for a lease.
EXTEND_IF_HOLDER = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""


@contextlib.asynccontextmanager
async def held(client, key: str, timeout_s: float) -> AsyncIterator[bool]:
    """Run a block under a Redis lock, waiting for it at most ``timeout_s`` (also its lease); yields
    whether it was taken (a stuck holder: the caller decides whether to go on without it)."""
    lock = client.lock(key, timeout=timeout_s, sleep=0.05, blocking_timeout=timeout_s)
    acquired = await lock.acquire()
    try:
        yield acquired
    finally:
        if acquired:
            with contextlib.suppress(LockError):  # held past its timeout: it has lapsed already
                await lock.release()
