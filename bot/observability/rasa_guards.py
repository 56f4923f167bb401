"""The one place where a failed turn in the Rasa server becomes a kind answer and a logged traceback.

Rasa swallows a failing custom action (the customer hears nothing) and the REST channel swallows a
failing turn (``[]``, silence); Socket.IO drops it. Two wraps, installed once per Rasa server
process by the ``ops`` channel, make every channel answer:

- ``RemoteAction.run``: the action server cannot be reached -> ``utter_action_server_down``
  (apology plus a message/human offer), counted and logged as ``actions.server.unavailable``.
- ``Agent.handle_message``: binds the conversation id and channel to every log line of the turn;
  Redis (tracker, lock) unreachable -> ``utter_service_unavailable``; any other exception -> its
  traceback with the conversation id, then ``utter_technical_problem``. A turn that lost its
  conversation lock (``LockLost``: nothing of it was stored) is run once more under a fresh lock,
  unless the turn that took the lock was this very message (taken over from a worker that looked dead).
Texts live in ``domain/operations.yml``.
"""
from __future__ import annotations

import functools
import logging
from typing import Any

import aiohttp
from rasa.core.actions.action import ActionExecutionRejection, RemoteAction
from rasa.core.agent import Agent
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.lock_store import LockError
from rasa.shared.core.events import BotUttered, UserUttered
from rasa.shared.exceptions import RasaException
from redis.exceptions import RedisError

from structlog.contextvars import bound_contextvars

from bot.lock_store import LockLost
from bot.observability import metrics

logger = logging.getLogger(__name__)

ACTION_SERVER_DOWN = "utter_action_server_down"
SERVICE_UNAVAILABLE = "utter_service_unavailable"
TECHNICAL_PROBLEM = "utter_technical_problem"
STORE_ERRORS = (RedisError, LockError, ConnectionError)


def response_for(domain, name: str, channel: str | None) -> dict | None:
    """The domain variant for ``channel``, else the general one (Rasa's own choice, without templating)."""
    variants = (getattr(domain, "responses", None) or {}).get(name) or []
    for variant in variants:
        if channel and variant.get("channel") == channel:
            return variant
    return next((v for v in variants if not v.get("channel")), None)


def action_server_unreachable(exc: BaseException) -> bool:
    """Rasa's RasaException for "could not reach / got a 5xx from the action server" — not the
    rejections (400) an action sends on purpose, which Rasa handles itself."""
    if isinstance(exc, ActionExecutionRejection):
        return False
    cause = exc.__cause__ or exc.__context__
    return isinstance(cause, aiohttp.ClientError) or "Couldn't connect" in str(exc)


def _guard_remote_action(original):
    @functools.wraps(original)
    async def run(self, output_channel, nlg, tracker, domain):
        try:
            return await original(self, output_channel, nlg, tracker, domain)
        except RasaException as exc:
            if not action_server_unreachable(exc):
                raise
            metrics.APOLOGIES.labels("action_server").inc()
            logger.warning("actions.server.unavailable action=%s", self.name())
            variant = response_for(domain, ACTION_SERVER_DOWN, output_channel.name())
            if variant is None:
                return []
            return [BotUttered(text=variant.get("text"), data={"buttons": variant.get("buttons")}
                               if variant.get("buttons") else {}, metadata={"utter_action": ACTION_SERVER_DOWN})]

    run._kefu_guard = True
    return run


async def apologise(agent: Agent, message: UserMessage, name: str) -> None:
    variant = response_for(agent.domain, name, message.input_channel)
    if variant is None or message.output_channel is None:
        return
    try:
        if variant.get("buttons"):
            await message.output_channel.send_text_with_buttons(message.sender_id, variant["text"], variant["buttons"])
        else:
            await message.output_channel.send_text_message(message.sender_id, variant["text"])
    except (OSError, RuntimeError, aiohttp.ClientError) as exc:  # the customer's own connection is gone
        logger.warning("turn.apology_failed error=%s", type(exc).__name__)


async def stored_already(agent: Agent, message: UserMessage) -> bool:
    """Whether the conversation holds ``message`` (by its message id): the turn that took its lock was this
    very message, taken over from a worker that looked dead (a web chat in-flight entry) and answered there."""
    tracker = await agent.tracker_store.retrieve(message.sender_id)
    return tracker is not None and any(isinstance(event, UserUttered) and event.message_id == message.message_id
                                       for event in tracker.events)


def _guard_handle_message(original):
    @functools.wraps(original)
    async def handle_message(self, message: UserMessage) -> Any:
        # Restored afterwards: a phone call's worker task keeps its own ivr:<call id> binding.
        with bound_contextvars(conversation_id=message.sender_id, channel=message.input_channel):
            try:
                try:
                    return await original(self, message)
                except LockLost:
                    # Nothing of it was stored, and the replies it collected are stale (the web chat, which
                    # sends as it goes, checked the lock before each: confirm_held).
                    if isinstance(message.output_channel, CollectingOutputChannel):
                        message.output_channel.messages.clear()
                    logger.warning("turn.lock_lost: run again under a fresh lock")
                    async with self.lock_store.lock(message.sender_id):  # Rasa's own handle_message, and:
                        if await stored_already(self, message):  # checked under the lock, so not run twice
                            logger.warning("turn.lock_lost answered_elsewhere")
                            return None
                        return await self.processor.handle_message(message)
            except STORE_ERRORS as exc:
                metrics.APOLOGIES.labels("redis").inc()
                logger.warning("turn.store_unavailable error=%s: %s", type(exc).__name__, exc)
                await apologise(self, message, SERVICE_UNAVAILABLE)
            except Exception:  # noqa: BLE001 - the last handler: traceback for us, a kind word for the customer
                metrics.UNHANDLED_ERRORS.labels("turn").inc()
                logger.exception("turn.failed")
                await apologise(self, message, TECHNICAL_PROBLEM)
            return None

    handle_message._kefu_guard = True
    return handle_message


def install() -> None:
    """Idempotent: wrap once per process."""
    if not getattr(RemoteAction.run, "_kefu_guard", False):
        RemoteAction.run = _guard_remote_action(RemoteAction.run)
    if not getattr(Agent.handle_message, "_kefu_guard", False):
        Agent.handle_message = _guard_handle_message(Agent.handle_message)
