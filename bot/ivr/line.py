"""Reaching a live call from any process: Redis pub/sub to the process that holds the call.

A call's audio lives in one process (the one whose WebSocket the carrier connected to), but an
agent's message may be typed on a desk served by another. Anything for the caller is
published on ``kefu:ivr:line:db<N>:<call id>`` (``N``: the deployment's Redis database, ``bot.redis_channels``:
another deployment on the same Redis server has lines of its own); each IVR process has one pattern
subscription (:class:`CallLines`) to its deployment's lines and passes a message to the call it holds, which
speaks it. Every phone process's pattern matches every line, so :func:`publish` counts the phone processes
running, not the one holding the call: a message for a call nobody holds (the caller hung up) reaches each of
them and each drops it; 0 means no phone process runs at all.

The process also vouches for the calls it holds while they wait in the queue (:class:`bot.ivr.held_calls.HeldCalls`,
from a thread): a call whose process died is not handed to an agent.

Wire format (JSON): ``{"kind": "message", "message": <a Rasa bot message dict>}`` or
``{"kind": "handback", "why": "..."}``.
"""
from __future__ import annotations

import asyncio
import json
import logging
from typing import Awaitable, Callable

from redis.exceptions import RedisError

from bot.redis_channels import deployment_channel

logger = logging.getLogger(__name__)

LINES_BASE = "kefu:ivr:line"
CONVERSATION_PREFIX = "ivr:"

Handler = Callable[[dict], Awaitable[None]]


def lines_prefix(redis) -> str:
    """What every call line of the deployment on ``redis`` (a client) starts with."""
    return deployment_channel(LINES_BASE, redis) + ":"


def line(call_id: str, redis) -> str:
    """The call's line in the deployment on ``redis``."""
    return lines_prefix(redis) + call_id


def call_id_of(conversation_id: str) -> str | None:
    """``ivr:<call id>`` -> the call id; None for a conversation that is not a phone call."""
    if conversation_id.startswith(CONVERSATION_PREFIX):
        return conversation_id[len(CONVERSATION_PREFIX):] or None
    return None


def conversation_id(call_id: str) -> str:
    """The one conversation id of a call, on the queue, the desk, the tracker and the records."""
    return CONVERSATION_PREFIX + call_id


async def publish(redis, call_id: str, message: dict) -> int:
    """Send ``message`` to whichever process holds the call; the number of phone processes that got it (each
    running one, whether it holds the call or not)."""
    return int(await redis.publish(line(call_id, redis), json.dumps(message, ensure_ascii=False)))


class CallLines:
    """One process's subscription to the lines of the calls it holds, and its word that it holds them
    (``held``: a :class:`bot.ivr.held_calls.HeldCalls`, None: not given)."""

    def __init__(self, redis, held=None) -> None:
        self.redis = redis
        self.held = held
        self.prefix = lines_prefix(redis)
        self._handlers: dict[str, Handler] = {}
        self._task: asyncio.Task | None = None
        self._ready = asyncio.Event()

    async def start(self) -> "CallLines":
        if self._task is None:
            self._task = asyncio.create_task(self._listen(), name="ivr-call-lines")
            await asyncio.wait_for(self._ready.wait(), 10)
            if self.held is not None:
                self.held.start()
        return self

    def attach(self, call_id: str, handler: Handler) -> None:
        self._handlers[call_id] = handler
        if self.held is not None:
            self.held.hold(conversation_id(call_id))

    def detach(self, call_id: str) -> None:
        self._handlers.pop(call_id, None)
        if self.held is not None:
            self.held.let_go(conversation_id(call_id))

    async def stop(self) -> None:
        if self.held is not None:
            self.held.stop()
        if self._task is not None:
            self._task.cancel()

    async def _listen(self) -> None:
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.psubscribe(self.prefix + "*")
                self._ready.set()
                while True:
                    item = await pubsub.get_message(timeout=5.0)
                    if item is not None:
                        await self._deliver(item)
            except (RedisError, OSError) as exc:
                logger.warning("ivr.line.subscription_lost error=%s", exc)
                await asyncio.sleep(1.0)
            finally:
                try:
                    await pubsub.reset()
                except (RedisError, OSError):
                    pass

    async def _deliver(self, item: dict) -> None:
        channel = item.get("channel")
        channel = channel.decode() if isinstance(channel, bytes) else str(channel or "")
        handler = self._handlers.get(channel[len(self.prefix):]) if channel.startswith(self.prefix) else None
        if handler is None:
            return  # another process holds this call
        try:
            message = json.loads(item.get("data") or b"{}")
        except ValueError:
            logger.warning("ivr.line.bad_message channel=%s", channel)
            return
        if isinstance(message, dict):
            await handler(message)
