"""Rasa's REST channel (``POST /webhooks/rest/webhook``), taking text as every channel does.

The message reaches the assistant made encodable and cut to web chat's limit (``bot.channels.intake``):
half an emoji failed the turn, and a long message (``rest_guard`` lets in 100,000 characters) held the
worker's event loop in the NLU (16,000 characters: 15 s). Who may post, and what the body must be: ``bot.channels.rest_guard``."""
from __future__ import annotations

import logging
from typing import Optional, Text

from rasa.core.channels.rest import RestInput as RasaRestInput
from sanic.request import Request

from bot.channels.intake import for_assistant

logger = logging.getLogger(__name__)


class RestInput(RasaRestInput):
    def _extract_message(self, req: Request) -> Optional[Text]:
        text = super()._extract_message(req)
        if not isinstance(text, str):
            return text
        taken, cut = for_assistant(text)
        if cut:
            logger.info("rest.message.cut chars=%d kept=%d", len(text), len(taken))
        return taken
