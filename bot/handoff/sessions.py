"""Agent desk sign-in sessions: a random token in an HttpOnly cookie, its hash as the Redis key.

A session ends after ``SESSION_TTL_S`` unused, and in any case ``SESSION_MAX_AGE_S`` after sign-in:
renewed on every use alone, a desk left open (or a copied cookie in use) never had to sign in again.
"""
from __future__ import annotations

import hashlib
import json
import secrets
import time

import redis.asyncio as redis

from bot.handoff import keys

COOKIE = "kefu_agent"
SESSION_TTL_S = 12 * 3600
SESSION_MAX_AGE_S = 24 * 3600


def _key(token: str) -> str:
    return keys.session(_hash(token))


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def requeued_key(token: str) -> str:
    """Where the session's sign-out notes the conversations it put back (``keys.session_requeued``)."""
    return keys.session_requeued(_hash(token))


async def open_session(client: redis.Redis, agent_id: str, display_name: str, credential: str = "",
                       *, now: float | None = None) -> str:
    """A new session; ``credential`` is the account's when it opened (a changed password ends it)."""
    token = secrets.token_urlsafe(32)
    opened = time.time() if now is None else now
    await client.set(_key(token), json.dumps({"agent_id": agent_id, "name": display_name, "credential": credential,
                                              "opened_at": opened}), ex=SESSION_TTL_S)
    return token


async def session_agent(client: redis.Redis, token: str | None, *, now: float | None = None) -> dict | None:
    """The signed-in agent for a cookie token (and the session's idle time renewed), or None."""
    if not token or len(token) > 128:
        return None
    raw = await client.get(_key(token))
    if raw is None:
        return None
    session = json.loads(raw)
    now = time.time() if now is None else now
    if "opened_at" not in session:  # opened before sessions had an age: counts from its first use since
        session["opened_at"] = now
        await client.set(_key(token), json.dumps(session), keepttl=True)
    left = session["opened_at"] + SESSION_MAX_AGE_S - now
    if left <= 0:
        await client.delete(_key(token))
        return None
    await client.expire(_key(token), int(min(SESSION_TTL_S, left)) or 1)
    return session


async def close_session(client: redis.Redis, token: str | None) -> None:
    if token:
        await client.delete(_key(token), requeued_key(token))
