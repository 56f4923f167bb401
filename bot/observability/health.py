"""``GET /health`` for load balancers: should this instance take customers right now?

It checks Redis (conversations, locks, queue: it must take a write), the database (customers, tickets, outcomes) and this
machine's action server (every custom answer), each within a short deadline, and names in ``checks``
any that did not answer. Only a failure of this instance's own parts makes it *unready* (503): a load
balancer should send customers elsewhere. Redis and the database are shared by every instance; when
one of them is down every instance fails alike, and answering 503 everywhere would take the whole
site out of the load balancer although each instance still serves (self-help and handoff without
the database; the documented apology without Redis). Then ``/health`` answers 200 with
``"status": "degraded"`` and the failing dependency in ``degraded``, for monitoring and people.
The data folder's free space is checked too (``disk``): below ``KEFU_DATA_DIR_MIN_FREE_MB`` the
instance still serves, so it is *degraded*, with the free bytes in the check's ``error`` — a warning
to act on before logs are lost and a crashed server cannot start again (bot/observability/disk_space.py).
``GET /health/live`` only says the server process answers (for a process supervisor).
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import aiohttp
import sqlalchemy as sa
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

CHECK_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    seconds: float
    error: str = ""

    def as_dict(self) -> dict:
        shown = {"ok": self.ok, "seconds": round(self.seconds, 3)}
        if self.error:
            shown["error"] = self.error
        return shown


async def _timed(name: str, probe) -> CheckResult:
    started = time.monotonic()
    try:
        await asyncio.wait_for(probe(), CHECK_TIMEOUT_S)
    except asyncio.TimeoutError:
        return CheckResult(name, False, time.monotonic() - started, "timeout")
    except (RedisError, SQLAlchemyError, aiohttp.ClientError, OSError, BadStatus) as exc:
        return CheckResult(name, False, time.monotonic() - started, type(exc).__name__)
    return CheckResult(name, True, time.monotonic() - started)


class BadStatus(Exception):
    """A dependency answered, but not with success."""


HEALTH_KEY = "kefu:health:probe"


async def check_redis(redis) -> None:
    """A write, as every turn makes (its tracker, its lock), not a PING: a Redis full to its ``maxmemory``,
    unable to save (MISCONF) or turned read-only replica by a failover answers PING and refuses every write."""
    await redis.set(HEALTH_KEY, "1", px=60_000)


async def check_database(engine) -> None:
    def select_one() -> None:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    await asyncio.to_thread(select_one)


async def check_action_server(session: aiohttp.ClientSession, health_url: str) -> None:
    async with session.get(health_url) as answer:
        if answer.status != 200:
            raise BadStatus(f"HTTP {answer.status}")


async def check_all(redis, engine, session: aiohttp.ClientSession, action_health_url: str) -> list[CheckResult]:
    return list(await asyncio.gather(
        _timed("redis", lambda: check_redis(redis)),
        _timed("database", lambda: check_database(engine)),
        _timed("action_server", lambda: check_action_server(session, action_health_url)),
    ))


def check_disk(folder, min_free_bytes: int) -> CheckResult:
    """Free space of the data folder against the threshold; a warning, never a reason to refuse customers."""
    from bot.observability.disk_space import describe, free_bytes

    free = free_bytes(folder)
    if free is None or free >= min_free_bytes:
        return CheckResult("disk", True, 0.0)
    return CheckResult("disk", False, 0.0, f"{describe(folder, free)}, below KEFU_DATA_DIR_MIN_FREE_MB")


SHARED = ("redis", "database")  # the same for every instance: down everywhere at once
WARNINGS = ("disk",)  # still serving; monitoring should act


def readiness(results: list[CheckResult]) -> tuple[int, dict]:
    """HTTP status and body of ``/health`` for these check results (see the module docstring)."""
    failing = [r.name for r in results if not r.ok]
    own = [name for name in failing if name not in SHARED + WARNINGS]
    status = "unavailable" if own else "degraded" if failing else "ok"
    body = {"status": status, "ready": not own, "checks": {r.name: r.as_dict() for r in results}}
    if failing and not own:
        body["degraded"] = failing
    return (503 if own else 200), body
