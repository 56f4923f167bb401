"""The chat page's 继续对话: a conversation kept after its last message does not start a new session
when the idle expiry (domain/core.yml, 60 minutes) has passed since that message (accessibility audit:
a slow reader lost their verification and half-done request without a word)."""
from __future__ import annotations

import time

import pytest
import redis.asyncio as aioredis
from rasa.core.processor import MessageProcessor
from rasa.core.tracker_store import AwaitableTrackerStore, InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot import session_keepalive
from bot.embedded_redis import EmbeddedRedis

MINUTE = 60


@pytest.fixture
async def redis(tmp_path):
    server = EmbeddedRedis(tmp_path / "redis").start()
    client = aioredis.from_url(server.url)
    original = MessageProcessor._update_tracker_session
    session_keepalive.install()
    yield client
    MessageProcessor._update_tracker_session = original
    await client.close()
    server.stop()


def processor(redis=None) -> tuple[MessageProcessor, list]:
    """Rasa's processor with only what the session check uses: the domain's session_config, its tracker
    store (Kefu's, holding ``redis``, inside Rasa's wrapper; Rasa's in-memory one without), and a
    stand-in for running action_session_start that records it."""
    started: list = []
    proc = MessageProcessor.__new__(MessageProcessor)
    proc.tracker_store = AwaitableTrackerStore(KefuStoreStandIn(redis) if redis is not None else InMemoryTrackerStore(None))
    proc.domain = Domain.from_dict({"session_config": {"session_expiration_time": 60,
                                                       "carry_over_slots_to_new_session": False}})
    proc.nlg = None
    proc._get_action = lambda name: name

    async def run_action(action, tracker, output_channel, nlg, prediction):
        started.append(action)

    proc._run_action = run_action
    return proc, started


class KefuStoreStandIn(InMemoryTrackerStore):
    """A tracker store with Kefu's store's ``redis`` attribute (the real one needs a TCP Redis)."""

    def __init__(self, redis) -> None:
        super().__init__(None)
        self.redis = redis


def idle_since(sender: str, last_message_at: float) -> DialogueStateTracker:
    return DialogueStateTracker.from_events(sender, [
        ActionExecuted("action_listen", timestamp=last_message_at - 1),
        UserUttered("宽带上不了网", timestamp=last_message_at),
    ])


async def test_a_conversation_kept_after_its_last_message_goes_on_past_the_idle_expiry(redis):
    proc, started = processor(redis)
    now = time.time()
    await session_keepalive.keep(redis, "kept", 60 * MINUTE, now=now - 10 * MINUTE)
    await proc._update_tracker_session(idle_since("kept", now - 61 * MINUTE), None)
    assert started == [], "the customer asked to stay 10 minutes ago: same session"


async def test_without_a_keep_or_with_one_too_old_the_session_ends_as_before(redis):
    proc, started = processor(redis)
    now = time.time()
    await proc._update_tracker_session(idle_since("never-kept", now - 61 * MINUTE), None)
    await session_keepalive.keep(redis, "kept-before-writing", 60 * MINUTE, now=now - 70 * MINUTE)
    await proc._update_tracker_session(idle_since("kept-before-writing", now - 61 * MINUTE), None)
    await session_keepalive.keep(redis, "kept-long-ago", 60 * MINUTE, now=now - 62 * MINUTE)
    await proc._update_tracker_session(idle_since("kept-long-ago", now - 125 * MINUTE), None)
    assert started == ["action_session_start"] * 3
    await proc._update_tracker_session(idle_since("recent", now - 5 * MINUTE), None)
    assert len(started) == 3, "a conversation within its hour is not touched"


async def test_a_processor_on_another_store_keeps_rasas_session_check(redis):
    """CI: the keep was read through the client of the first store built in the process; a later
    processor (another store, another event loop) failed its turn on that closed client."""
    await session_keepalive.keep(redis, "elsewhere", 60 * MINUTE)
    proc, started = processor()  # Rasa's in-memory store: no keeps, no Redis touched
    await redis.close()  # the first store's client is gone, as its loop was in CI
    await proc._update_tracker_session(idle_since("elsewhere", time.time() - 61 * MINUTE), None)
    assert started == ["action_session_start"]
