"""How many texts a phone call may have sent to a number: the chat's verification-code budget, for the phone.

Found by a phone tester: a number keyed on the phone proves nothing (anyone can key anyone's
number), yet every call could have the self-help text sent to it, with no limit — the chat counts
its codes per number (against SMS bombing) and the phone did not. Texts the phone sends (a flow's
``notify`` node, the assistant's links) are now counted like ``bot.security.otp`` counts codes:
per number and per call in hourly windows, the call's budget the smaller one, and a text the call
may not send is not counted for the number (so no one call can use up a number's budget).
Settings: ``KEFU_PHONE_SMS_PER_NUMBER_PER_HOUR`` (5) and ``KEFU_PHONE_SMS_PER_CALL_PER_HOUR`` (3).
"""
from __future__ import annotations

import hashlib
import logging
import time
from typing import Callable

from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

PREFIX = "kefu:ivr:sms"
WINDOW_S = 3600


def _hidden(value: str) -> str:
    """Numbers never appear in Redis key names."""
    return hashlib.sha256(value.encode()).hexdigest()[:24]


class TextBudget:
    def __init__(self, client, *, per_number_per_hour: int, per_call_per_hour: int,
                 clock: Callable[[], float] = time.time) -> None:
        self.redis = client
        self.per_number_per_hour = per_number_per_hour
        self.per_call_per_hour = per_call_per_hour
        self.clock = clock

    @classmethod
    def from_settings(cls, client, settings) -> "TextBudget":
        return cls(client, per_number_per_hour=settings.phone_sms_per_number_per_hour,
                   per_call_per_hour=settings.phone_sms_per_call_per_hour)

    async def may_send(self, call_id: str, number: str) -> bool:
        """Count one text towards the call's budget and, if that allows it, the number's; False when
        either is used up (or the budget cannot be checked: nothing is sent unchecked)."""
        window = str(int(self.clock() // WINDOW_S))
        try:
            if not await self._within(f"{PREFIX}:call:{_hidden(call_id)}:{window}", self.per_call_per_hour):
                return False
            return await self._within(f"{PREFIX}:number:{_hidden(number)}:{window}", self.per_number_per_hour)
        except (RedisError, OSError) as exc:
            logger.warning("ivr.sms_budget.unknown error=%s", type(exc).__name__)
            return False

    async def _within(self, key: str, limit: int) -> bool:
        async with self.redis.pipeline(transaction=True) as pipe:  # never a count left without its expiry
            pipe.incr(key)
            pipe.expire(key, WINDOW_S * 2)
            count, _ = await pipe.execute()
        return count <= limit
