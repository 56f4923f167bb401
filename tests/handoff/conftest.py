"""A real Redis for the handoff tests: REDIS_URL's server on a spare db (CI), else an embedded one."""
from __future__ import annotations

import os

import pytest
import redis.asyncio as aioredis

from bot.handoff.queue import HandoffQueue
from bot.handoff.rules import load_rules
from tests.conftest import PROJECT_ROOT
from tests.worker_redis import HANDOFF, NEIGHBOUR, database_url, first_database, spare_url


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    url = os.environ.get("REDIS_URL")
    if url:
        yield spare_url(url, HANDOFF)
        return
    from bot.embedded_redis import EmbeddedRedis

    server = EmbeddedRedis(tmp_path_factory.mktemp("redis")).start()
    yield server.url
    server.stop()


@pytest.fixture
async def redis(redis_url):
    client = aioredis.Redis.from_url(redis_url)
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.close()


@pytest.fixture
async def neighbour_url(redis_url):
    """Another deployment's database on the same Redis server as ``redis_url``'s (emptied before and after):
    Pub/Sub channels are the server's, so this is where one deployment could hear another."""
    stack = os.environ.get("REDIS_URL")  # CI's server: this test process's own spare database; else the embedded one's
    url = spare_url(stack, NEIGHBOUR) if stack else database_url(redis_url, first_database(redis_url) + 1)
    assert url != redis_url
    client = aioredis.Redis.from_url(url)
    await client.flushdb()
    yield url
    await client.flushdb()
    await client.close()


class Clock:
    """A hand-driven clock: tests decide how long everyone waited."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Events:
    """Collects the KPI events the queue records."""

    def __init__(self) -> None:
        self.recorded: list[tuple[str, str, str, dict]] = []

    async def __call__(self, conversation_id: str, kind: str, channel: str, data: dict) -> None:
        self.recorded.append((conversation_id, kind, channel, data))

    def kinds(self, conversation_id: str | None = None) -> list[str]:
        return [k for c, k, _, _ in self.recorded if conversation_id in (None, c)]

    def data(self, kind: str) -> list[dict]:
        return [d for _, k, _, d in self.recorded if k == kind]


@pytest.fixture
def rules():
    return load_rules(PROJECT_ROOT / "content" / "handoff.yml")


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def events():
    return Events()


@pytest.fixture
def queue(redis, clock, rules, events):
    return HandoffQueue(redis, clock, rules=rules, recorder=events)
