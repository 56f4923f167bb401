"""``GET /health`` for load balancers: can this server answer customers right now?

It answers 200 only when Redis (conversations, locks, queue), the database (customers, tickets,
outcomes) and the action server (every custom answer) all respond within a short deadline, and 503
naming the one that did not otherwise.
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


async def check_redis(redis) -> None:
    await redis.ping()


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
