"""Rasa's REST channel (``POST /webhooks/rest/webhook``), taking text as every channel does.

The message reaches the assistant made encodable and cut to web chat's ``max_message_chars``
(``bot.channels.intake``): half an emoji failed the turn, and a long message (``rest_guard`` lets in
100,000 characters) held the worker's event loop in the NLU (16,000 characters: 15 s). A client whose
message was cut is told as a WeChat follower is: the turn's replies (the JSON list, or the stream)
start with the chat page's ``notice_cut``. Who may post, and what the body must be: ``bot.channels.rest_guard``."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.rest import RestInput as RasaRestInput
from sanic import Blueprint

from bot.channels.intake import MAX_MESSAGE_CHARS, configured_limit, cut_notice, for_assistant
from bot.settings import get_settings

logger = logging.getLogger(__name__)


class RestInput(RasaRestInput):
    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "RestInput":
        settings = get_settings()
        return cls(configured_limit(settings.root), settings.content_dir)  # web chat's limit: one setting

    def __init__(self, max_message_chars: int = MAX_MESSAGE_CHARS, content_dir: Path | None = None) -> None:
        self.max_message_chars = max_message_chars
        self.content_dir = content_dir or get_settings().content_dir

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        async def taken(message: UserMessage) -> None:
            if isinstance(message.text, str):
                text = message.text
                message.text, cut = for_assistant(text, self.max_message_chars)
                if cut:
                    logger.info("rest.message.cut chars=%d kept=%d", len(text), len(message.text))
                    notice = cut_notice(self.content_dir, self.max_message_chars)
                    if notice:  # told first, as WeChat's follower is
                        await message.output_channel.send_text_message(message.sender_id, notice)
            await on_new_message(message)

        return super().blueprint(taken)
