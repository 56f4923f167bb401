"""Desk sessions end when unused for 12 h and, whatever the use, 24 h after sign-in (real Redis)."""
from __future__ import annotations

import json

from bot.handoff.sessions import SESSION_MAX_AGE_S, SESSION_TTL_S, _key, open_session, session_agent

SIGNED_IN = 1_800_000_000.0


async def test_a_desk_in_constant_use_still_signs_in_again_a_day_later(redis):
    token = await open_session(redis, "wangfang", "王芳", "c1", now=SIGNED_IN)
    for hour in range(0, 24, 2):  # used every two hours, all day and night
        assert (await session_agent(redis, token, now=SIGNED_IN + hour * 3600))["agent_id"] == "wangfang"
    assert await session_agent(redis, token, now=SIGNED_IN + SESSION_MAX_AGE_S + 1) is None
    assert await redis.get(_key(token)) is None  # gone for every process, not only refused here


async def test_using_it_never_keeps_the_session_past_its_age(redis):
    token = await open_session(redis, "wangfang", "王芳", "c1", now=SIGNED_IN)
    await session_agent(redis, token, now=SIGNED_IN + 20 * 3600)
    assert 0 < await redis.ttl(_key(token)) <= 4 * 3600
    early = await open_session(redis, "lihua", "李华", "c2", now=SIGNED_IN)
    await session_agent(redis, early, now=SIGNED_IN + 60)
    assert await redis.ttl(_key(early)) > SESSION_TTL_S - 60  # idle time renewed as before


async def test_a_session_opened_before_sessions_had_an_age_counts_from_its_next_use(redis):
    token = "t" * 43
    await redis.set(_key(token), json.dumps({"agent_id": "wangfang", "name": "王芳", "credential": "c1"}), ex=SESSION_TTL_S)
    assert (await session_agent(redis, token, now=SIGNED_IN))["agent_id"] == "wangfang"
    assert await session_agent(redis, token, now=SIGNED_IN + SESSION_MAX_AGE_S - 60) is not None
    assert await session_agent(redis, token, now=SIGNED_IN + SESSION_MAX_AGE_S + 1) is None
