"""The human queue as the IVR sees it: an adapter over ``bot.handoff.queue.HandoffQueue``.

The queue module is built separately; this adapter codes against its published API::

    HandoffQueue(redis).enqueue(HandoffRequest(conversation_id, channel, skill, priority,
                                               customer_id, context)) -> QueuePosition(position,
                                                                                   estimated_wait_s)
    await HandoffQueue(redis).estimated_wait(skill) -> float

and imports it lazily, so the phone line keeps working (transfer nodes take ``on_failure``,
peak-hour conditions see no wait) while that module is absent or its Redis is unreachable.
"""
from __future__ import annotations

import importlib
import inspect
import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass

from redis.exceptions import RedisError

from bot.ivr.errors import HandoffUnavailable

logger = logging.getLogger(__name__)
# What the queue raises when its store cannot serve; anything else is a bug and reaches the call's
# last handler with its traceback.
QUEUE_DOWN_ERRORS = (RedisError, OSError)

QUEUE_MODULE = "bot.handoff.queue"


@dataclass(frozen=True)
class QueueTicket:
    position: int
    estimated_wait_s: float


class HandoffGateway(ABC):
    @abstractmethod
    async def enqueue(self, *, conversation_id: str, skill: str, priority: int, customer_id: int | None,
                      context: dict) -> QueueTicket:
        """Put the call in the queue for ``skill``; raises :class:`HandoffUnavailable`."""

    @abstractmethod
    async def estimated_wait(self, skill: str) -> float:
        """Seconds a caller joining the ``skill`` queue now would wait (0.0 when unknown)."""

    async def abandon(self, conversation_id: str, reason: str) -> None:
        """The caller hung up while waiting: take the call out of the queue."""


class QueueHandoff(HandoffGateway):
    def __init__(self, redis, channel: str = "ivr") -> None:
        self.redis = redis
        self.channel = channel
        self._queue = None

    def _load(self):
        if self._queue is None:
            try:
                module = importlib.import_module(QUEUE_MODULE)
                self._queue = module.HandoffQueue(self.redis)
                self._request = module.HandoffRequest
            except (ImportError, AttributeError) as exc:
                raise HandoffUnavailable(f"{QUEUE_MODULE} is not available: {exc}") from exc
        return self._queue

    async def enqueue(self, *, conversation_id: str, skill: str, priority: int, customer_id: int | None,
                      context: dict) -> QueueTicket:
        queue = self._load()
        request = self._request(conversation_id=conversation_id, channel=self.channel, skill=skill,
                                priority=priority, customer_id=None if customer_id is None else str(customer_id),
                                context=context)
        try:
            result = queue.enqueue(request)
            if inspect.isawaitable(result):
                result = await result
        except HandoffUnavailable:
            raise
        except QUEUE_DOWN_ERRORS as exc:  # the caller gets on_failure
            raise HandoffUnavailable(f"enqueue failed: {type(exc).__name__}: {exc}") from exc
        return QueueTicket(int(result.position), float(result.estimated_wait_s))

    async def estimated_wait(self, skill: str) -> float:
        try:
            result = self._load().estimated_wait(skill)
            return float(await result if inspect.isawaitable(result) else result)
        except HandoffUnavailable as exc:
            logger.warning("ivr.handoff.unavailable error=%s", exc)
            return 0.0
        except QUEUE_DOWN_ERRORS as exc:
            logger.warning("ivr.handoff.wait_unknown error=%s: %s", type(exc).__name__, exc)
            return 0.0

    async def abandon(self, conversation_id: str, reason: str) -> None:
        try:
            await self._load().abandon(conversation_id, reason)
        except QUEUE_DOWN_ERRORS as exc:  # the entry expires with the queue's own TTLs
            logger.warning("ivr.handoff.abandon_failed error=%s: %s", type(exc).__name__, exc)
