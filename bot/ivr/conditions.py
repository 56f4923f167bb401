"""``when`` conditions of flows: opening hours, the caller's VIP tier, the current queue wait."""
from __future__ import annotations

import datetime as dt
from typing import Awaitable, Callable

from bot.handoff.estimate import wait_minutes
from bot.ivr.call_state import CallState
from bot.ivr.config import BusinessHours
from bot.ivr.flow import Condition

QueueWait = Callable[[str], Awaitable[float]]
AgentsOnline = Callable[[str], Awaitable[bool]]


class ConditionContext:
    """What conditions may look at for one call; the clock and the queue are injected."""

    def __init__(self, hours: BusinessHours, queue_wait: QueueWait,
                 clock: Callable[[], dt.datetime] | None = None, agents_online: AgentsOnline | None = None) -> None:
        self.hours = hours
        self.queue_wait = queue_wait
        self.agents_online = agents_online
        self.clock = clock or (lambda: dt.datetime.now(dt.timezone.utc))

    async def holds(self, condition: Condition, state: CallState) -> bool:
        """True when every test of ``condition`` holds; remembers the queue wait it looked at."""
        if condition.business_hours is not None and self.hours.is_open(self.clock()) != condition.business_hours:
            return False
        if condition.vip_tier_at_least is not None and state.vip_tier < condition.vip_tier_at_least:
            return False
        if condition.known_customer is not None and (state.customer_id is not None) != condition.known_customer:
            return False
        if condition.queue_wait_over_s is not None:
            if self.agents_online is not None and not await self.agents_online(condition.skill):
                return False  # nobody online: no wait to promise; the transfer's `on_nobody` says so
            wait = await self.queue_wait(condition.skill)
            state.vars["wait_minutes"] = wait_minutes(wait)  # as the transfer will say it
            if wait <= condition.queue_wait_over_s:
                return False
        return True
