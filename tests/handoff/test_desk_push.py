"""Saving a handed-off conversation tells the desk through Redis pub/sub; other saves stay quiet."""
from __future__ import annotations

import asyncio

from bot.handoff.desk_push import changes_channel, publish_paused_saves


class Tracker:
    def __init__(self, sender_id: str, paused: bool) -> None:
        self.sender_id = sender_id
        self.paused = paused

    def is_paused(self) -> bool:
        return self.paused


class Store:
    """Stands in for Rasa's tracker store: only ``save`` matters here."""

    def __init__(self) -> None:
        self.saved: list[str] = []

    async def save(self, tracker) -> None:
        self.saved.append(tracker.sender_id)


async def next_message(pubsub, timeout: float = 2.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
        if message is not None:
            return message
    return None


async def test_only_paused_conversations_publish_and_the_save_still_happens(redis):
    store = Store()
    publish_paused_saves(store, redis)
    publish_paused_saves(store, redis)  # installing twice wraps once
    pubsub = redis.pubsub()
    await pubsub.subscribe(changes_channel("wx+1", redis), changes_channel("bot-only", redis))
    await store.save(Tracker("bot-only", paused=False))
    assert await next_message(pubsub, 0.5) is None
    await store.save(Tracker("wx+1", paused=True))
    message = await next_message(pubsub)
    assert message is not None and message["channel"].decode() == changes_channel("wx+1", redis)
    assert store.saved == ["bot-only", "wx+1"]
    assert await next_message(pubsub, 0.3) is None, "one notice per save"
    await pubsub.close()
