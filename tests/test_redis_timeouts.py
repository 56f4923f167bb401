"""Kefu's Redis clients against a Redis that hangs (``SIGSTOP``: what a network partition or a failover
without a TCP reset looks like), found by an on-call test: no client but the health check's had a
timeout, so every turn waited for as long as the hang lasted. The customer's side of it is
tests/ops/test_faults.py; here each client Kefu makes must give up with a ``RedisError`` (which the
turn guard turns into the apology), and the Socket.IO rooms listener, which waits for messages for as
long as there are none, must keep listening through a quiet spell longer than the timeout."""
from __future__ import annotations

import asyncio
import json
import os
import signal
from contextlib import contextmanager

import pytest
import redis
import redis.asyncio as aioredis

from bot import settings as settings_module
from bot.embedded_redis import EmbeddedRedis

TIMEOUT_S = 0.5
DEADLINE_S = TIMEOUT_S + 10  # far more than the timeout, far less than the hang without one


@pytest.fixture
def hangable(tmp_path, monkeypatch):
    """A redis-server of the test's own, and Kefu's settings pointing at it with a short timeout."""
    server = EmbeddedRedis(tmp_path / "redis").start()
    monkeypatch.setenv("REDIS_URL", server.url)
    monkeypatch.setenv("KEFU_REDIS_TIMEOUT_SECONDS", str(TIMEOUT_S))
    settings_module.get_settings.cache_clear()
    yield server
    os.kill(server.process.pid, signal.SIGCONT)
    server.stop()
    settings_module.get_settings.cache_clear()


@contextmanager
def hung(server: EmbeddedRedis):
    os.kill(server.process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(server.process.pid, signal.SIGCONT)


def tracker_store_client(url: str):
    from bot.settings import redis_parts
    from bot.tracker_store import IncrementalRedisTrackerStore

    parts = redis_parts(url)
    return IncrementalRedisTrackerStore(host=parts["host"], port=parts["port"], db=parts["db"]).redis


def lock_store_client(url: str):
    from bot.lock_store import AsyncRedisLockStore
    from bot.settings import redis_parts

    parts = redis_parts(url)
    return AsyncRedisLockStore(host=parts["host"], port=parts["port"], db=parts["db"]).redis


def queue_client(url: str):  # the handoff queue, OTP codes, desk sessions, repairs (action server and Rasa)
    from bot.handoff.queue import redis_from_settings

    return redis_from_settings()


def guard_client(url: str):  # WeChat and web chat de-duplication and rate limits
    from bot.channels.guard import ChannelGuard

    return ChannelGuard(url, "kefu:test")._client()


def webchat_rooms_client(url: str):  # Socket.IO emits across workers
    from bot.channels.webchat import RoomsAcrossWorkers

    return RoomsAcrossWorkers(url, channel="kefu:test:socketio").redis


def outcomes_client(url: str):  # outcome events parked while the database is away
    from bot.outcomes.recorder import OutcomeRecorder

    return OutcomeRecorder("sqlite://", url).parked.client


CLIENTS = {"tracker store": tracker_store_client, "lock store": lock_store_client, "handoff queue": queue_client,
           "channel guard": guard_client, "web chat rooms": webchat_rooms_client, "outcomes": outcomes_client}


@pytest.mark.parametrize("client", CLIENTS)
async def test_each_client_gives_up_on_a_hung_redis_and_works_again_after(hangable, client):
    made = CLIENTS[client](hangable.url)
    assert await made.ping()
    with hung(hangable):
        with pytest.raises(redis.RedisError):  # not asyncio's TimeoutError: the client gave up itself
            await asyncio.wait_for(made.ping(), DEADLINE_S)
    assert await asyncio.wait_for(made.ping(), DEADLINE_S)


async def test_the_rooms_listener_keeps_listening_through_a_quiet_spell(hangable):
    from bot.channels.webchat import RoomsAcrossWorkers

    rooms = RoomsAcrossWorkers(hangable.url, channel="kefu:test:quiet")
    listening = rooms._listen()
    received = asyncio.ensure_future(listening.__anext__())
    probe = aioredis.from_url(hangable.url)
    try:
        async def subscribed() -> bool:
            return dict(await probe.pubsub_numsub("kefu:test:quiet")).get(b"kefu:test:quiet", 0) > 0

        loop = asyncio.get_running_loop()
        deadline = loop.time() + DEADLINE_S
        while not await subscribed():
            assert loop.time() < deadline, "the listener never subscribed"
            await asyncio.sleep(0.02)
        await asyncio.sleep(4 * TIMEOUT_S)  # the quiet spell itself, longer than any command may take
        assert not received.done(), "the listener gave up while nobody was talking"
        hello = {"method": "close_room", "room": "hello", "namespace": "/"}
        assert await probe.publish("kefu:test:quiet", json.dumps(hello)) == 1
        assert await asyncio.wait_for(received, DEADLINE_S) == hello
    finally:
        received.cancel()
        await probe.close()


async def test_a_conversation_read_or_saved_during_a_hang_fails_the_turn_instead_of_vanishing(hangable):
    """Rasa's agent wraps the tracker store in its ``FailSafeTrackerStore``, which turned any error into
    "no such conversation" (a read) or a save into this process's memory. A turn that met a Redis stall
    after it had taken the lock went on as a stranger's first turn (a new session: verification and a
    half-filled request gone) and its events were kept where no other worker and no restart sees them;
    the desk showed such a conversation empty. The error must reach the turn guard, which apologises
    (bot/observability/rasa_guards.py), and a later read must find the conversation where it was."""
    from rasa.core.agent import Agent
    from rasa.shared.core.events import ActionExecuted, UserUttered

    from bot.settings import redis_parts
    from bot.tracker_store import IncrementalRedisTrackerStore

    parts = redis_parts(hangable.url)
    agent = Agent(tracker_store=IncrementalRedisTrackerStore(host=parts["host"], port=parts["port"], db=parts["db"]))
    store = agent.tracker_store  # as the turn and the desk reach it
    tracker = await store.get_or_create_tracker("hang-1")
    for event in (ActionExecuted("action_listen"), UserUttered("我要报修")):
        tracker.update(event)
    await store.save(tracker)
    with hung(hangable):
        with pytest.raises(redis.RedisError):
            await asyncio.wait_for(store.retrieve("hang-1"), DEADLINE_S)
        tracker.update(UserUttered("13800000000"))
        with pytest.raises(redis.RedisError):
            await asyncio.wait_for(store.save(tracker), DEADLINE_S)
    again = await asyncio.wait_for(store.retrieve("hang-1"), DEADLINE_S)
    said = [e.text for e in again.events if isinstance(e, UserUttered)]
    # The timed-out save was sent, so the resumed Redis may still run it: then once, never the turn lost.
    assert said in (["我要报修"], ["我要报修", "13800000000"])
