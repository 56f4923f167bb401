"""The per-sender rate limit, on real Redis and on the in-process fallback, with a hand-driven clock."""
from __future__ import annotations

import pytest

from bot.channels import guard as guard_module
from bot.channels.guard import ChannelGuard
from tests.handoff.conftest import redis, redis_url  # noqa: F401 - a real Redis

MINUTE_BOUNDARY = 1_700_000_040.0  # a multiple of 60: where a fixed window would start afresh


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now


@pytest.fixture(params=["redis", "memory"])
def guard(request, monkeypatch):
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    if url:
        request.getfixturevalue("redis")  # an empty test database
    clock = Clock(MINUTE_BOUNDARY - 1.0)
    monkeypatch.setattr(guard_module, "time", clock)
    return ChannelGuard(url, "test"), clock


async def hits(guard: ChannelGuard, clock: Clock, count: int, spacing: float, sender: str = "o1") -> list[bool]:
    answers = []
    for _ in range(count):
        answers.append(await guard.allow(sender, 20, 60))
        clock.now += spacing
    return answers


async def test_a_burst_across_a_minute_boundary_is_still_limited(guard):
    limiter, clock = guard
    # 22 messages in 2.1 s, the boundary in the middle: only the first 20 go through.
    assert await hits(limiter, clock, 22, 0.1) == [True] * 20 + [False, False]


async def test_a_sender_may_write_again_once_the_window_has_passed_and_others_are_not_held(guard):
    limiter, clock = guard
    await hits(limiter, clock, 21, 0.1)
    assert await limiter.allow("o2", 20, 60), "another sender has a limit of their own"
    clock.now += 60
    assert await limiter.allow("o1", 20, 60)
