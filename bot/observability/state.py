"""Levels read from shared state when Prometheus scrapes: queue length and longest wait per skill,
live phone calls, messages to customers in the outbox (waiting, the oldest one's age, given up), ticket
events not delivered to the dispatch system (the same outbox table, counted apart), requests kept while
the database was down.
Reading them at scrape time keeps them right with any number of processes, and after any of them is
killed."""
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
from bot.dispatch.undelivered import counts as ticket_event_counts
from bot.handoff import keys as handoff_keys
from bot.handoff.presence import gone_among
from bot.ivr.call_state import CallStore
from bot.observability.health import check_redis
from bot.kept_lists import failed_key, kept_key
from bot.outbound.outbox_rows import waited_seconds
from bot.outcomes.pending import pending_key

logger = logging.getLogger(__name__)
MAX_ENTRIES_READ = 500  # per skill; a longer queue is its own alarm


@dataclass
class StateSnapshot:
    queue_length: dict[str, int] = field(default_factory=dict)
    longest_wait_s: dict[str, float] = field(default_factory=dict)
    queue_gone: dict[str, int] = field(default_factory=dict)
    active_calls: int | None = None
    outbox_backlog: int | None = None
    outbox_failed: int | None = None
    outbox_oldest_pending_s: float | None = None
    ticket_events: dict[str, int] = field(default_factory=dict)  # pending / failed (bot/dispatch/undelivered.py)
    kept_requests: dict[str, int] = field(default_factory=dict)  # waiting / set_aside
    outcome_events_waiting: int | None = None  # parked in Redis for the database (bot/outcomes/pending.py)
    redis_up: bool = True
    database_up: bool = True
    agents_signed_in: dict[str, int] = field(default_factory=dict)
    agents_available: dict[str, int] = field(default_factory=dict)
    data_dir_free_bytes: int | None = None  # this machine's, unlike the shared levels above


async def read_queues(redis, snapshot: StateSnapshot, now: float) -> None:
    """Per skill, the customers waiting and the longest wait. A web-chat customer who closed the page keeps
    their place for the waiting room's grace period but is not waiting for anyone: counted apart, as
    ``kefu_queue_gone`` (found by a tester: they inflated the queue and its longest wait for 2 minutes).
    A callback booked in a web chat waits for an agent to ring it, page or not (bot.handoff.presence)."""
    from bot.handoff.queue import HandoffQueue

    prefix = handoff_keys.queue("")
    async for raw_key in redis.scan_iter(match=prefix + "*", count=100):
        key = raw_key.decode() if isinstance(raw_key, bytes) else raw_key
        skill = key[len(prefix):]
        total = int(await redis.zcard(key))
        members = [m.decode() if isinstance(m, bytes) else m for m in await redis.zrange(key, 0, MAX_ENTRIES_READ - 1)]
        async with redis.pipeline(transaction=False) as pipe:
            for member in members:
                pipe.hgetall(handoff_keys.conversation(member))
            found = await pipe.execute() if members else []
        entries = [e for e in (HandoffQueue.from_record(m, raw) for m, raw in zip(members, found)) if e is not None]
        gone = await gone_among(redis, entries, now)
        # Since it last joined the queue (``waiting_since``, as the desk reads it): a transfer keeps ``enqueued_at``
        # for the place in line, and a wait read from it took in the time with the first agent (370 s, not 10).
        oldest = min([now] + [e["waiting_since"] for e in entries if e["conversation_id"] not in gone])
        snapshot.queue_length[skill] = total - len(gone)
        snapshot.queue_gone[skill] = len(gone)
        snapshot.longest_wait_s[skill] = round(now - oldest, 1)


async def read_agents(redis, snapshot: StateSnapshot, now: float) -> None:
    """Per configured skill, the agents signed in and those free to take a customer — the supervisor
    view's own reading (bot/handoff/supervisor.py), so the metric and the desk never disagree. An SRE
    tester could not tell a staffing gap from a stuck desk: customers were told no agent was online
    while one was signed in. Every configured skill gets a series (0 too), and so does its queue:
    a series that only exists while customers wait cannot be alerted on."""
    from bot.handoff.queue import HandoffQueue
    from bot.handoff.supervisor import agents

    queue = HandoffQueue(redis, lambda: now)
    shown = await agents(queue)
    for skill in queue.rules.skills:
        serving = [a for a in shown if skill in a["skills"]]
        snapshot.agents_signed_in[skill] = sum(1 for a in serving if a["state"] != "offline")
        snapshot.agents_available[skill] = sum(1 for a in serving if a["state"] == "available")
        snapshot.queue_length.setdefault(skill, 0)
        snapshot.queue_gone.setdefault(skill, 0)
        snapshot.longest_wait_s.setdefault(skill, 0.0)


def customer_message_counts(repository: Repository) -> dict:
    """Messages to customers (SMS, REST callback) in the outbox: ``backlog`` waiting or being sent,
    ``failed`` given up for a person (``kefu outbox``), and ``oldest_pending_s``, how long the oldest
    waiting one has waited, by the database's clock (0 when none). Ticket events share the outbox table
    but are ``kefu_ticket_events``: when they were counted here too, a dispatch system that was down
    looked like SMS not going out, and an SMS gateway that was down hid among ticket events.

    The age, not the backlog, tells a stuck outbox from a busy one: at a peak the backlog is never 0
    while every text still leaves within seconds (the first alert on the backlog paged then)."""
    from bot.outbound.undelivered import UNDELIVERED
    from bot.outbound.worker import STILL_TRYING, to_customers

    counts = (sa.select(outbox.c.status, sa.func.count()).where(to_customers(), outbox.c.status.in_(UNDELIVERED))
              .group_by(outbox.c.status))
    oldest = sa.select(sa.func.max(waited_seconds(repository.engine))).where(to_customers(), outbox.c.status.in_(STILL_TRYING))
    with repository.engine.connect() as conn:
        found = {status: int(n) for status, n in conn.execute(counts)}
        waited = conn.execute(oldest).scalar_one()
    return {"backlog": found.get("pending", 0) + found.get("sending", 0), "failed": found.get("failed", 0),
            "oldest_pending_s": max(0.0, float(waited or 0.0))}


async def read_state(redis, repository: Repository, clock=time.time, data_dir=None) -> StateSnapshot:
    """One snapshot; a dependency that is down is reported as down, never raised."""
    from bot.observability.disk_space import free_bytes

    snapshot = StateSnapshot()
    if data_dir is not None:
        snapshot.data_dir_free_bytes = free_bytes(data_dir)
    try:  # up means it takes a write, as /health asks: a full or read-only Redis answers reads only
        await check_redis(redis)
    except (RedisError, OSError) as exc:
        logger.warning("metrics.state.redis_write_failed error=%s", type(exc).__name__)
        snapshot.redis_up = False
    try:
        now = clock()
        await read_queues(redis, snapshot, now)
        await read_agents(redis, snapshot, now)
        snapshot.active_calls = len(await CallStore(redis).live_calls())
        snapshot.kept_requests = {"waiting": int(await redis.llen(kept_key(repository.url))),
                                  "set_aside": int(await redis.llen(failed_key(repository.url)))}
        snapshot.outcome_events_waiting = int(await redis.llen(pending_key(repository.url)))
    except (RedisError, OSError) as exc:
        logger.warning("metrics.state.redis_failed error=%s", type(exc).__name__)
        snapshot.redis_up = False
    try:
        messages = await asyncio.to_thread(customer_message_counts, repository)
        snapshot.outbox_backlog = messages["backlog"]
        snapshot.outbox_failed = messages["failed"]
        snapshot.outbox_oldest_pending_s = round(messages["oldest_pending_s"], 1)
        snapshot.ticket_events = await asyncio.to_thread(ticket_event_counts, repository)
    except SQLAlchemyError as exc:
        from bot.db.errors import database_error

        logger.warning("metrics.state.database_failed error=%s", database_error(exc, repository.engine.url))
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
        signed_in = GaugeMetricFamily("kefu_agents_signed_in", "Agents signed in to the desk (available, "
                                      "away or full) with this skill", labels=["skill"])
        available = GaugeMetricFamily("kefu_agents_available", "Agents signed in, available and below their "
                                      "capacity, with this skill", labels=["skill"])
        for skill in sorted(s.agents_signed_in):
            signed_in.add_metric([skill], s.agents_signed_in[skill])
            available.add_metric([skill], s.agents_available.get(skill, 0))
        yield signed_in
        yield available
        if s.active_calls is not None:
            yield GaugeMetricFamily("kefu_active_calls", "Phone calls in progress (all processes)",
                                    value=s.active_calls)
        if s.outbox_backlog is not None:
            yield GaugeMetricFamily("kefu_outbox_backlog", "SMS/WeChat messages waiting to be delivered "
                                    "(REST callbacks too; not ticket events: kefu_ticket_events)",
                                    value=s.outbox_backlog)
        if s.outbox_oldest_pending_s is not None:
            yield GaugeMetricFamily("kefu_outbox_oldest_pending_seconds", "How long the oldest message to a "
                                    "customer still waiting to be delivered has waited (0: none waits)",
                                    value=s.outbox_oldest_pending_s)
        if s.outbox_failed is not None:
            yield GaugeMetricFamily("kefu_outbox_failed", "Messages to customers given up (refused, or not "
                                    "delivered in time), until a person resends or drops them (kefu outbox)",
                                    value=s.outbox_failed)
        if s.ticket_events:
            events = GaugeMetricFamily("kefu_ticket_events", "Ticket events for the dispatch system not delivered: "
                                       "pending (waiting, retried) or failed (given up, holding their tickets' "
                                       "later events until resent or dropped)", labels=["state"])
            for state, count in sorted(s.ticket_events.items()):
                events.add_metric([state], count)
            yield events
        if s.kept_requests:
            kept = GaugeMetricFamily("kefu_kept_requests", "Requests kept while the database was down: waiting "
                                     "to be filed, or set aside (filed nothing, or failed) for an operator",
                                     labels=["list"])
            for name, count in sorted(s.kept_requests.items()):
                kept.add_metric([name], count)
            yield kept
        if s.outcome_events_waiting is not None:
            yield GaugeMetricFamily("kefu_outcome_events_waiting", "Outcome events parked in Redis because the "
                                    "database did not take them (down, or not migrated): missing from the report "
                                    "until written", value=s.outcome_events_waiting)
        if s.data_dir_free_bytes is not None:
            yield GaugeMetricFamily("kefu_data_dir_free_bytes", "Bytes free on this machine's KEFU_DATA_DIR "
                                    "(logs, metrics, models, voicemail); a full one loses logs and crashes servers",
                                    value=s.data_dir_free_bytes)
        up = GaugeMetricFamily("kefu_dependency_up", "1 when the dependency answered this scrape "
                               "(Redis: took a write)",
                               labels=["dependency"])
        up.add_metric(["redis"], int(s.redis_up))
        up.add_metric(["database"], int(s.database_up))
        yield up


def state_registry(snapshot: StateSnapshot) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(StateCollector(snapshot))
    return registry
