"""Agent desk sign-in sessions: a random token in an HttpOnly cookie, its hash as the Redis key."""
from __future__ import annotations

import hashlib
import json
import secrets

import redis.asyncio as redis

from bot.handoff import keys

COOKIE = "kefu_agent"
SESSION_TTL_S = 12 * 3600


def _key(token: str) -> str:
    return keys.session(hashlib.sha256(token.encode()).hexdigest())


async def open_session(client: redis.Redis, agent_id: str, display_name: str, credential: str = "") -> str:
    """A new session; ``credential`` is the account's when it opened (a changed password ends it)."""
    token = secrets.token_urlsafe(32)
    await client.set(_key(token), json.dumps({"agent_id": agent_id, "name": display_name, "credential": credential}),
                     ex=SESSION_TTL_S)
    return token


async def session_agent(client: redis.Redis, token: str | None) -> dict | None:
    """The signed-in agent for a cookie token (and the session's lifetime renewed), or None."""
    if not token or len(token) > 128:
        return None
    raw = await client.get(_key(token))
    if raw is None:
        return None
    await client.expire(_key(token), SESSION_TTL_S)
    return json.loads(raw)


async def close_session(client: redis.Redis, token: str | None) -> None:
    if token:
        await client.delete(_key(token))
