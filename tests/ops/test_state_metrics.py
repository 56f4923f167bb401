"""Levels read from shared state at scrape time: queue length and longest wait, live calls, outbox."""
from __future__ import annotations

import pytest
import redis.asyncio as aioredis
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bot.db.repository import Repository
from bot.handoff.queue import HandoffQueue, HandoffRequest
from bot.ivr.call_state import CallState, CallStore, call_key
from bot.observability.state import read_state, state_registry
from tests.handoff.conftest import Events, redis, redis_url  # noqa: F401 - the shared Redis fixtures


def values(snapshot) -> dict:
    text = generate_latest(state_registry(snapshot)).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def test_queue_length_and_longest_wait_per_skill(redis, kefu_env):  # noqa: F811
    now = 1_700_000_000.0
    for i, (skill, waited) in enumerate([("tv", 300), ("tv", 30), ("billing", 90)]):
        joined = HandoffQueue(redis, lambda: now - waited, recorder=Events())  # joined the queue `waited` ago
        await joined.enqueue(HandoffRequest(f"c{i}", "rest", skill, 0, None))
    for call_id in ("MZ1", "MZ2"):
        await CallStore(redis).create(live_call(call_id))
    repository = Repository(kefu_env.database_url)
    repository.add_outbound(channel="sms", recipient="13800000001", kind="test", payload={})
    found = values(await read_state(redis, repository, clock=lambda: now))
    assert found[("kefu_queue_length", (("skill", "tv"),))] == 2
    assert found[("kefu_queue_longest_wait_seconds", (("skill", "tv"),))] == pytest.approx(300, abs=0.2)
    assert found[("kefu_queue_longest_wait_seconds", (("skill", "billing"),))] == pytest.approx(90, abs=0.2)
    assert found[("kefu_active_calls", ())] == 2
    assert found[("kefu_outbox_backlog", ())] == 1
    assert found[("kefu_dependency_up", (("dependency", "redis"),))] == 1


def live_call(call_id: str) -> CallState:
    return CallState(call_id=call_id, caller="", flow="main", version="v1", node="menu", started_at=0.0)


async def test_a_call_whose_process_died_stops_counting_once_its_state_has_expired(redis, kefu_env):  # noqa: F811
    # Found in review: a worker killed mid-call never removed the call from the set of live calls, so
    # kefu_active_calls counted it for ever (its state expired, the set's member did not).
    store = CallStore(redis)
    for call_id in ("MZ1", "MZ2"):
        await store.create(live_call(call_id))
    await redis.pexpire(call_key("MZ2"), 1)  # MZ2's process was killed: its state expires on its own
    while await redis.exists(call_key("MZ2")):
        pass
    repository = Repository(kefu_env.database_url)
    assert values(await read_state(redis, repository))[("kefu_active_calls", ())] == 1
    await store.end("MZ1")
    assert values(await read_state(redis, repository))[("kefu_active_calls", ())] == 0


async def test_redis_down_is_reported_not_raised(kefu_env):
    unreachable = aioredis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    found = values(await read_state(unreachable, Repository(kefu_env.database_url)))
    assert found[("kefu_dependency_up", (("dependency", "redis"),))] == 0
    assert found[("kefu_dependency_up", (("dependency", "database"),))] == 1
    await unreachable.close()


async def test_agents_signed_in_and_available_per_skill(redis, kefu_env):  # noqa: F811
    """SRE tester, finding 8: nothing in Prometheus said whether any agent was signed in, so a staffing
    gap could not be told from a stuck desk. Every configured skill has a series, 0 included."""
    from bot.handoff.agents import AgentRoster

    now = 1_700_000_000.0
    roster = AgentRoster(redis, lambda: now)
    await roster.register("a1", name="Li", skills=["tv", "billing"], capacity=2, status="available")
    await roster.register("a2", name="Wang", skills=["tv"], capacity=2, status="away")
    old = AgentRoster(redis, lambda: now - 3600)  # signed in an hour ago, desk closed since
    await old.register("a3", name="Zhao", skills=["tv"], capacity=2, status="available")
    found = values(await read_state(redis, Repository(kefu_env.database_url), clock=lambda: now))
    assert found[("kefu_agents_signed_in", (("skill", "tv"),))] == 2
    assert found[("kefu_agents_available", (("skill", "tv"),))] == 1
    assert found[("kefu_agents_available", (("skill", "billing"),))] == 1
    assert found[("kefu_agents_signed_in", (("skill", "broadband"),))] == 0
    assert found[("kefu_queue_length", (("skill", "broadband"),))] == 0  # no customer waits there: still a series


async def test_outcome_events_waiting_for_the_database_are_a_level_operators_see(redis, redis_url, tmp_path):  # noqa: F811
    """Found in review: outcome events parked in Redis while the database cannot take them (down, or not
    migrated: the recorder retries for ever) were in no metric, so the report's figures went missing
    with nothing but log lines to say so. They are counted at scrape time, from the shared list."""
    from bot.outcomes import outcome_event, recorder_for

    down = f"sqlite:///{tmp_path}/missing-folder/kefu.sqlite3"  # every connection fails
    recorder = recorder_for(down, redis_url)  # parks in the Redis the scrape reads
    for n in range(3):
        await recorder.record(outcome_event(f"c{n}", "contact_started", channel="webchat"))
    assert await recorder.waiting() == 3 and recorder.buffered == 0
    found = values(await read_state(redis, Repository(down)))
    assert found[("kefu_outcome_events_waiting", ())] == 3


async def test_a_transferred_customers_wait_counts_from_the_transfer_on_the_gauge_and_the_wallboard(
        redis, kefu_env):  # noqa: F811
    """Found in review: a transfer keeps the first queue entry's time for the place in line, and the longest
    wait (the gauge KefuCustomersWaitingTooLong alerts on, and the wallboard's) was read from it, so a
    customer transferred after 60 s in line and 5 minutes with the first agent showed as waiting 6 minutes
    the moment they joined the second queue. The queue itself records that wait from the transfer."""
    from bot.analytics.live import queue_figures

    clock = [1_700_000_000.0]
    queue = HandoffQueue(redis, lambda: clock[0], recorder=Events())
    await queue.enqueue(HandoffRequest("moved", "webchat", "tv", 0, None))
    clock[0] += 60
    await queue.claim_next("agent1")
    clock[0] += 300
    await queue.transfer("moved", "agent1", "billing")
    clock[0] += 10
    found = values(await read_state(redis, Repository(kefu_env.database_url), clock=lambda: clock[0]))
    assert found[("kefu_queue_length", (("skill", "billing"),))] == 1
    assert found[("kefu_queue_longest_wait_seconds", (("skill", "billing"),))] == pytest.approx(10, abs=0.2)
    wallboard = {q["skill"]: q for q in await queue_figures(queue)}
    assert wallboard["billing"]["waiting"] == 1
    assert wallboard["billing"]["longest_wait_s"] == pytest.approx(10, abs=0.2)


async def test_a_redis_that_refuses_every_write_is_down_for_the_alert_while_the_queues_are_still_read(
        kefu_env, tmp_path):
    """``KefuDependencyDown`` pages on ``kefu_dependency_up``, which only read Redis: a Redis full to its
    ``maxmemory`` (or read-only after a failover) answered every read, so the metric said up and nobody
    was paged while every customer's turn failed to store and got the apology (``/health`` says degraded:
    tests/ops/test_health_readiness.py)."""
    import redis as sync_redis

    from bot.embedded_redis import EmbeddedRedis

    server = EmbeddedRedis(tmp_path / "redis").start()  # its own: this test makes it refuse writes
    client = aioredis.Redis.from_url(server.url)
    try:
        await client.config_set("maxmemory-policy", "noeviction")
        await client.config_set("maxmemory", "1")
        with pytest.raises(sync_redis.exceptions.OutOfMemoryError):
            await client.set("a-turn", "its tracker")
        found = values(await read_state(client, Repository(kefu_env.database_url)))
    finally:
        await client.close()
        server.stop()
    assert found[("kefu_dependency_up", (("dependency", "redis"),))] == 0
    assert found[("kefu_dependency_up", (("dependency", "database"),))] == 1
    assert any(name == "kefu_queue_length" for name, _ in found), "the queues are still read"
