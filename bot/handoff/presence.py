"""When a customer's page last showed a sign of life, shared through Redis.

The web chat marks its session on connect, every ``session_alive`` ping the page sends and on
disconnect; the waiting room reads it to let closed chats leave the queue after a grace period.
A key per conversation with a week's expiry: nothing to clean up, and any worker can read it.
"""
from __future__ import annotations

import redis.asyncio as redis

PRESENCE_TTL_S = 7 * 24 * 3600


def customer_seen_key(conversation_id: str) -> str:
    return f"kefu:presence:customer:{conversation_id}"


async def mark_customer_seen(client: redis.Redis, conversation_id: str, now: float) -> None:
    await client.set(customer_seen_key(conversation_id), repr(now), ex=PRESENCE_TTL_S)


async def customer_last_seen(client: redis.Redis, conversation_id: str) -> float | None:
    value = await client.get(customer_seen_key(conversation_id))
    return float(value.decode() if isinstance(value, bytes) else value) if value is not None else None
