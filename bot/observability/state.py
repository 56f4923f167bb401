"""Levels read from shared state when Prometheus scrapes: queue length and longest wait per skill,
live phone calls, the outbox backlog. Reading them at scrape time keeps them right with any number
of processes, and after any of them is killed."""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

import sqlalchemy as sa
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from bot.db.repository import Repository
from bot.db.schema import outbox
from bot.handoff import keys as handoff_keys
from bot.handoff.presence import gone_among
from bot.ivr.call_state import LIVE_CALLS

logger = logging.getLogger(__name__)
MAX_ENTRIES_READ = 500  # per skill; a longer queue is its own alarm


@dataclass
class StateSnapshot:
    queue_length: dict[str, int] = field(default_factory=dict)
    longest_wait_s: dict[str, float] = field(default_factory=dict)
    queue_gone: dict[str, int] = field(default_factory=dict)
    active_calls: int | None = None
    outbox_backlog: int | None = None
    redis_up: bool = True
    database_up: bool = True


async def read_queues(redis, snapshot: StateSnapshot, now: float) -> None:
    """Per skill, the customers waiting and the longest wait. A web-chat customer who closed the page keeps
    their place for the waiting room's grace period but is not waiting for anyone: counted apart, as
    ``kefu_queue_gone`` (found by a tester: they inflated the queue and its longest wait for 2 minutes)."""
    prefix = handoff_keys.queue("")
    async for raw_key in redis.scan_iter(match=prefix + "*", count=100):
        key = raw_key.decode() if isinstance(raw_key, bytes) else raw_key
        skill = key[len(prefix):]
        total = int(await redis.zcard(key))
        members = [m.decode() if isinstance(m, bytes) else m for m in await redis.zrange(key, 0, MAX_ENTRIES_READ - 1)]
        async with redis.pipeline(transaction=False) as pipe:
            for member in members:
                pipe.hmget(handoff_keys.conversation(member), ["enqueued_at", "channel"])
            found = await pipe.execute() if members else []
        channels = [((v[1].decode() if isinstance(v[1], bytes) else v[1]) or "") for v in found]
        gone = await gone_among(redis, list(zip(members, channels)), now)
        oldest = now
        for member, (enqueued, _) in zip(members, found):
            if enqueued is not None and member not in gone:
                oldest = min(oldest, float(enqueued))
        snapshot.queue_length[skill] = total - len(gone)
        snapshot.queue_gone[skill] = len(gone)
        snapshot.longest_wait_s[skill] = round(now - oldest, 1)


def outbox_backlog(repository: Repository) -> int:
    query = sa.select(sa.func.count()).select_from(outbox).where(outbox.c.status == "pending")
    with repository.engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


async def read_state(redis, repository: Repository, clock=time.time) -> StateSnapshot:
    """One snapshot; a dependency that is down is reported as down, never raised."""
    snapshot = StateSnapshot()
    try:
        await read_queues(redis, snapshot, clock())
        snapshot.active_calls = int(await redis.scard(LIVE_CALLS))
    except (RedisError, OSError) as exc:
        logger.warning("metrics.state.redis_failed error=%s", type(exc).__name__)
        snapshot.redis_up = False
    try:
        snapshot.outbox_backlog = await asyncio.to_thread(outbox_backlog, repository)
    except SQLAlchemyError as exc:
        logger.warning("metrics.state.database_failed error=%s", type(exc).__name__)
        snapshot.database_up = False
    return snapshot


class StateCollector:
    """Exposes one snapshot as gauges (a custom collector, so no gauge files in the multiprocess dir)."""

    def __init__(self, snapshot: StateSnapshot) -> None:
        self.snapshot = snapshot

    def collect(self):
        s = self.snapshot
        length = GaugeMetricFamily("kefu_queue_length", "Conversations waiting for a human, per skill "
                                   "(not counting web-chat customers who closed the page)", labels=["skill"])
        gone = GaugeMetricFamily("kefu_queue_gone", "Web-chat customers who closed the page, keeping their "
                                 "place for the grace period, per skill", labels=["skill"])
        wait = GaugeMetricFamily("kefu_queue_longest_wait_seconds", "Wait of the longest-waiting customer",
                                 labels=["skill"])
        for skill, count in sorted(s.queue_length.items()):
            length.add_metric([skill], count)
            gone.add_metric([skill], s.queue_gone.get(skill, 0))
            wait.add_metric([skill], s.longest_wait_s.get(skill, 0.0))
        yield length
        yield gone
        yield wait
        if s.active_calls is not None:
            yield GaugeMetricFamily("kefu_active_calls", "Phone calls in progress (all processes)",
                                    value=s.active_calls)
        if s.outbox_backlog is not None:
            yield GaugeMetricFamily("kefu_outbox_backlog", "SMS/WeChat messages waiting to be delivered",
                                    value=s.outbox_backlog)
        up = GaugeMetricFamily("kefu_dependency_up", "1 when the dependency answered this scrape",
                               labels=["dependency"])
        up.add_metric(["redis"], int(s.redis_up))
        up.add_metric(["database"], int(s.database_up))
        yield up


def state_registry(snapshot: StateSnapshot) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(StateCollector(snapshot))
    return registry
