"""The phone's output channel for messages from outside a bot turn (agents, the waiting room).

``IvrInput.get_output_channel`` returns it, so the desk and the waiting room deliver to a
caller exactly as to a web-chat or WeChat customer: each message goes over the call's Redis
line (:mod:`bot.ivr.line`) to the process that holds the call, which speaks it with TTS.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, Text

from rasa.core.channels.channel import OutputChannel

from bot.ivr import line

logger = logging.getLogger(__name__)


class IvrLineOutput(OutputChannel):
    def __init__(self, redis=None) -> None:
        self._redis = redis

    @classmethod
    def name(cls) -> Text:
        return "ivr"

    @property
    def redis(self):
        if self._redis is None:
            from bot.handoff.queue import redis_from_settings

            self._redis = redis_from_settings()
        return self._redis

    async def send_response(self, recipient_id: Text, message: Dict[Text, Any]) -> None:
        await self._publish(recipient_id, {"kind": "message", "message": dict(message)})

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        await self.send_response(recipient_id, {"text": text})

    async def hand_back(self, recipient_id: Text, why: str = "agent_closed") -> None:
        """The agent is done: the call's flow takes the caller back to the assistant."""
        await self._publish(recipient_id, {"kind": "handback", "why": why})

    async def _publish(self, recipient_id: str, payload: dict) -> None:
        call_id = line.call_id_of(recipient_id)
        if call_id is None:
            logger.warning("ivr.line.not_a_call conversation=%s", recipient_id)
            return
        if not await line.publish(self.redis, call_id, payload):
            logger.info("ivr.line.no_phone_process conversation=%s kind=%s", recipient_id, payload["kind"])
