"""What a web chat worker owes Redis of its pages' presence: an open or a close it could not write.

A page counted open (``bot.handoff.presence.page_alive``) while Redis failed (its connection made during
an outage) stayed uncounted once Redis was back, until its next sign of life: the chat page's
``session_alive`` 20 s later (a minute in a background tab), a widget's next message. Meanwhile the
conversation's other tab counted as its only one, so what the customer typed there was not copied to it,
and the waiting room took a customer whose only page it was for gone. A close that failed left the page
counted. The worker keeps each page's latest unwritten state and writes it every ``HEAL_S`` until Redis
takes it; a write made since (the page's next sign of life, its close) settles it. A close written late never
moves the conversation's last sight back over a newer one of its other pages (``bot.handoff.presence``).

Bounded (``MAX_OWED`` per worker): an open is owed at most once per socket the worker holds (its close
replaces it), but a long outage owes a close for every socket that went. Beyond the bound, closes more than
``PAGE_SILENT_S`` old are coalesced per conversation into its newest sight owed (a close, or an open): such
a page no longer counts open anyway (its last sign of life is older than its close), and the newest sight is
all that is left to write of them. Only if that is not enough are the oldest closes dropped (logged): the
conversation keeps the last sight written before, its page stops counting ``PAGE_SILENT_S`` after it.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import math
import time
from dataclasses import dataclass
from typing import Awaitable, Callable, Dict, Optional, Tuple

from redis.exceptions import RedisError

from bot.handoff.presence import PAGE_SILENT_S

logger = logging.getLogger(__name__)

HEAL_S = 2.0  # how often a worker tries again what it owes, while it owes anything
MAX_OWED = 10_000  # pages a worker keeps owed; beyond, closes are coalesced (then the oldest dropped) to 90 %

Page = Tuple[str, str]  # (conversation id, socket id)


@dataclass(frozen=True)
class Owed:
    closed: bool
    at: float  # when the page closed (an open one is written as seen when it is written)
    ticket: int  # the order of the write that failed: an older write succeeding later settles nothing


class OwedPresence:
    """The pages whose latest presence write failed, by (conversation, socket)."""

    def __init__(self, limit: Optional[int] = None) -> None:
        self.limit = limit or MAX_OWED
        self._owed: Dict[Page, Owed] = {}
        self._tickets = itertools.count(1)

    def ticket(self) -> int:
        """Taken before a write: :meth:`owe` or :meth:`paid` with it after."""
        return next(self._tickets)

    def owe(self, page: Page, closed: bool, at: float, ticket: int) -> None:
        if page not in self._owed or self._owed[page].ticket < ticket:
            self._owed[page] = Owed(closed, at, ticket)
            if len(self._owed) > self.limit:
                self._bound()

    def _bound(self) -> None:
        """Down to 90 % of ``limit`` if closes allow (module docstring): old closes coalesced per
        conversation, then the oldest closes dropped. Opens stay (one per socket the worker holds)."""
        target, silent_since = self.limit * 9 // 10, time.time() - PAGE_SILENT_S
        sighted: set = set()  # conversations with a newer sight owed (an open is written as seen when paid)
        for page, owed in sorted(self._owed.items(), key=lambda item: item[1].at if item[1].closed else math.inf,
                                 reverse=True):
            if owed.closed and owed.at < silent_since and page[0] in sighted:
                del self._owed[page]
            sighted.add(page[0])
        if len(self._owed) <= target:
            return
        closes = sorted((owed.at, page) for page, owed in self._owed.items() if owed.closed)
        dropped = closes[:len(self._owed) - target]
        for _at, page in dropped:
            del self._owed[page]
        if dropped:
            logger.warning("webchat.presence.owed_dropped closes=%d kept=%d hint=Redis has been failing long; "
                           "the oldest closes' conversations keep the last sight written before",
                           len(dropped), len(self._owed))

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
