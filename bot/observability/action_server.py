"""Logging for the action server (rasa-sdk): Kefu's structured logs, with the conversation bound.

rasa-sdk has no hook per request, so ``ActionExecutor.run`` is wrapped once per process to bind the
conversation id (``sender_id``) and channel to every log line of the action, and to log the
traceback of an action that crashes (rasa-sdk would answer 500 with no conversation id).
"""
from __future__ import annotations

import functools
import logging

from rasa_sdk.executor import ActionExecutor

from bot.observability import metrics
from bot.observability.logging_setup import (bind_conversation, clear_conversation, configure_from_settings,
                                             configured)

logger = logging.getLogger(__name__)


def _bound_run(original):
    @functools.wraps(original)
    async def run(self, action_call):
        tracker = action_call.get("tracker") or {}
        clear_conversation()
        bind_conversation(action_call.get("sender_id") or tracker.get("sender_id"),
                          (tracker.get("latest_input_channel") or None), action=action_call.get("next_action"))
        try:
            return await original(self, action_call)
        except Exception:  # noqa: BLE001 - logged with the conversation, then rasa-sdk's own 500/reject
            metrics.UNHANDLED_ERRORS.labels("action").inc()
            logger.exception("action.failed")
            raise

    run._kefu_bound = True
    return run


def install() -> None:
    """Configure logging and wrap the executor; idempotent."""
    from bot.settings import from_environment

    if not configured():  # a `kefu` command importing the actions keeps its cli.log
        configure_from_settings(from_environment())  # not the cached settings: tests import actions early
    if not getattr(ActionExecutor.run, "_kefu_bound", False):
        ActionExecutor.run = _bound_run(ActionExecutor.run)
