"""Delivery to REST integrations, which only get answers to their own requests.

Rasa's REST channel answers each POST with that turn's messages; what an agent or the waiting
room says later has no request to ride on. It is queued in the outbox (channel ``rest``, the
conversation id as recipient, kind ``conversation_message``, the Rasa message as payload) for
the integration to collect, like every other message Kefu sends outside a turn.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Dict, Text

from rasa.core.channels.channel import OutputChannel

logger = logging.getLogger(__name__)

KIND = "conversation_message"


class OutboxOutput(OutputChannel):
    @classmethod
    def name(cls) -> Text:
        return "rest"

    async def send_response(self, recipient_id: Text, message: Dict[Text, Any]) -> None:
        from bot.db.repository import Repository
        from bot.settings import get_settings

        payload = {k: v for k, v in message.items() if v is not None}
        outbound_id = await asyncio.to_thread(Repository(get_settings().database_url).add_outbound,
                                              channel="rest", recipient=recipient_id, kind=KIND, payload=payload)
        logger.info("handoff.rest.queued id=%s conversation=%s", outbound_id, recipient_id)

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        await self.send_response(recipient_id, {"text": text})
