"""How many texts a phone call may have sent to a number: the chat's verification-code budget, for the phone.

Found by a phone tester: a number keyed on the phone proves nothing (anyone can key anyone's
number), yet every call could have the self-help text sent to it, with no limit — the chat counts
its codes per number (against SMS bombing) and the phone did not. Texts the phone sends (a flow's
``notify`` node, the assistant's links) are now counted like ``bot.security.otp`` counts codes:
per number and per call in any hour (sliding windows, ``bot.rate_window``: fixed hourly windows let a
number have twice its texts across the top of an hour), the call's budget the smaller one, and a
text the call may not send is not counted for the number (so no one call can use up a number's
budget). Settings: ``KEFU_PHONE_SMS_PER_NUMBER_PER_HOUR`` (5) and ``KEFU_PHONE_SMS_PER_CALL_PER_HOUR`` (3).
Keys ``kefu:ivr:sms:{call,number}:<hash>``; the fixed windows' keys (``...:<hour>``) simply expire.
"""
from __future__ import annotations

import hashlib
import logging
import time
from typing import Callable

from redis.exceptions import RedisError

from bot import rate_window

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
        now = self.clock()
        try:
            if not await self._within(f"{PREFIX}:call:{_hidden(call_id)}", self.per_call_per_hour, now):
                return False
            return await self._within(f"{PREFIX}:number:{_hidden(number)}", self.per_number_per_hour, now)
        except (RedisError, OSError) as exc:
            logger.warning("ivr.sms_budget.unknown error=%s", type(exc).__name__)
            return False

    async def _within(self, key: str, limit: int, now: float) -> bool:
        return await rate_window.take(self.redis, key, limit=limit, window_s=WINDOW_S, now=now) is not None
