"""What a web chat worker owes Redis of its pages' presence: an open or a close it could not write.

A page counted open (``bot.handoff.presence.page_alive``) while Redis failed (its connection made during
an outage) stayed uncounted once Redis was back, until its next sign of life: the chat page's
``session_alive`` 20 s later (a minute in a background tab), a widget's next message. Meanwhile the
conversation's other tab counted as its only one, so what the customer typed there was not copied to it,
and the waiting room took a customer whose only page it was for gone. A close that failed left the page
counted. The worker keeps each page's latest unwritten state and writes it every ``HEAL_S`` until Redis
takes it; a write made since (the page's next sign of life, its close) settles it.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import time
from dataclasses import dataclass
from typing import Awaitable, Callable, Dict, Tuple

from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

HEAL_S = 2.0  # how often a worker tries again what it owes, while it owes anything

Page = Tuple[str, str]  # (conversation id, socket id)


@dataclass(frozen=True)
class Owed:
    closed: bool
    at: float  # when the page closed (an open one is written as seen when it is written)
    ticket: int  # the order of the write that failed: an older write succeeding later settles nothing


class OwedPresence:
    """The pages whose latest presence write failed, by (conversation, socket)."""

    def __init__(self) -> None:
        self._owed: Dict[Page, Owed] = {}
        self._tickets = itertools.count(1)

    def ticket(self) -> int:
        """Taken before a write: :meth:`owe` or :meth:`paid` with it after."""
        return next(self._tickets)

    def owe(self, page: Page, closed: bool, at: float, ticket: int) -> None:
        if page not in self._owed or self._owed[page].ticket < ticket:
            self._owed[page] = Owed(closed, at, ticket)

    def paid(self, page: Page, ticket: int) -> None:
        """A write taken at ``ticket`` reached Redis: what was owed before it is settled."""
        if page in self._owed and self._owed[page].ticket <= ticket:
            del self._owed[page]

    def __len__(self) -> int:
        return len(self._owed)

    async def pay(self, write: Callable[[str, str, bool, float], Awaitable[None]],
                  showing: Callable[[str, str], bool]) -> None:
        """Write what is owed, oldest first; a RedisError stops the round. An open owed for a socket no
        longer showing the conversation (gone meanwhile, its close written) is a close."""
        for page, owed in sorted(self._owed.items(), key=lambda item: item[1].ticket):
            closed = owed.closed or not showing(*page)
            ticket = self.ticket()
            await write(page[0], page[1], closed, owed.at if closed else time.time())  # open here now
            self.paid(page, ticket)

    async def pay_forever(self, write: Callable[[str, str, bool, float], Awaitable[None]],
                          showing: Callable[[str, str], bool]) -> None:
        while True:
            await asyncio.sleep(HEAL_S)
            if not self._owed:
                continue
            try:
                await self.pay(write, showing)
            except RedisError as error:
                logger.debug("webchat.presence.still_owed pages=%d error=%s", len(self), type(error).__name__)
            else:
                logger.info("webchat.presence.healed")
