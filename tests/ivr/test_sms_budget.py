"""The phone's text budget (bot.ivr.sms_budget) on a real Redis, with a hand-driven clock: no more
texts to a number, or from a call, than the budget in any hour, whatever the hour on the clock."""
from __future__ import annotations

from bot.ivr.sms_budget import TextBudget
from tests.handoff.conftest import Clock, redis, redis_url  # noqa: F401  a real Redis

TOP_OF_THE_HOUR = 1_700_002_800.0  # 13:00:00 in the examples below
VICTIM = "13700000009"


def budget(redis, clock: Clock, per_number: int = 2, per_call: int = 10) -> TextBudget:  # noqa: F811
    return TextBudget(redis, per_number_per_hour=per_number, per_call_per_hour=per_call, clock=clock)


async def test_a_number_texted_its_budget_just_before_the_hour_gets_nothing_just_after_it(redis):  # noqa: F811
    """Fixed hourly windows let a number have 2 texts at 12:59:50 and 2 more at 13:00:05."""
    clock = Clock(TOP_OF_THE_HOUR - 10)
    texts = budget(redis, clock)
    before = [await texts.may_send(f"call-{n}", VICTIM) for n in range(2)]
    clock.advance(15)
    after = [await texts.may_send(f"call-{n}", VICTIM) for n in range(2, 4)]
    assert before == [True, True] and after == [False, False]
    clock.advance(3600 - 15 - 0.001)  # a millisecond short of an hour since the first two
    assert not await texts.may_send("call-4", VICTIM)
    clock.advance(0.001)  # an hour since the first two: their places are free again, not more
    assert [await texts.may_send(f"call-{n}", VICTIM) for n in range(5, 8)] == [True, True, False]


async def test_texts_at_the_same_instant_each_count(redis):  # noqa: F811
    """Many processes, one moment: every text is counted (two in one millisecond are two)."""
    import asyncio

    texts = budget(redis, Clock(TOP_OF_THE_HOUR), per_number=3)
    allowed = await asyncio.gather(*(texts.may_send(f"call-{n}", VICTIM) for n in range(20)))
    assert sum(allowed) == 3


async def test_a_text_the_call_may_not_send_is_not_counted_for_the_number(redis):  # noqa: F811
    clock = Clock(TOP_OF_THE_HOUR)
    texts = budget(redis, clock, per_number=3, per_call=1)
    assert [await texts.may_send("call-1", VICTIM) for _ in range(5)] == [True] + [False] * 4
    assert [await texts.may_send("call-2", VICTIM), await texts.may_send("call-3", VICTIM)] == [True, True]
    assert not await texts.may_send("call-4", VICTIM)  # the number's three, not more


async def test_every_budget_key_expires_and_names_no_number(redis):  # noqa: F811
    texts = budget(redis, Clock(TOP_OF_THE_HOUR))
    await texts.may_send("call-1", VICTIM)
    keys = [key.decode() for key in await redis.keys("*")]
    assert len(keys) == 2 and not [key for key in keys if VICTIM in key or "call-1" in key], keys
    assert all(0 < ttl <= 3600 * 1000 for ttl in [await redis.pttl(key) for key in keys])
