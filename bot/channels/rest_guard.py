"""Input checks for Rasa's REST channel (``POST /webhooks/rest/webhook``), which answers 500 to a
body that is not a JSON object with a text message (found by tests/fuzz). Registered as request
middleware by the ``ops`` channel: a malformed request gets a 400 that says what is wrong."""
from __future__ import annotations

import json
import logging
import re
from typing import Any

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

logger = logging.getLogger(__name__)

REST_WEBHOOK = "/webhooks/rest/webhook"
MAX_SENDER_CHARS = 128
MAX_MESSAGE_CHARS = 100_000  # long messages get an answer (tests/test_rest_smoke.py); this only bounds memory
CHANNEL_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


def rest_body_problem(body: bytes, other_channels: frozenset[str] = frozenset()) -> str | None:
    """What is wrong with a REST webhook body, or None when Rasa can take it.

    ``input_channel`` may name an integration's own channel, never another of Kefu's (``ivr``,
    ``webchat``, ``wechat`` …): a proof holds only on the channel it was given on, and the desk
    trusts a phone call's number, so posing as one of them must not be possible.
    """
    try:
        payload: Any = json.loads(body or b"")
    except (ValueError, UnicodeDecodeError):
        return "the body must be a JSON object"
    if not isinstance(payload, dict):
        return "the body must be a JSON object"
    sender, message = payload.get("sender"), payload.get("message")
    if not isinstance(sender, str) or not sender.strip() or len(sender) > MAX_SENDER_CHARS:
        return f"`sender` must be a non-empty string of at most {MAX_SENDER_CHARS} characters"
    if not sender.isprintable():
        # A line break in an id wrote a forged log line (found by a tester); ids are printable text.
        return "`sender` may not contain control characters"
    if not isinstance(message, str) or len(message) > MAX_MESSAGE_CHARS:
        return f"`message` must be a string of at most {MAX_MESSAGE_CHARS} characters"
    if "metadata" in payload and not isinstance(payload["metadata"], (dict, type(None))):
        return "`metadata` must be a JSON object"
    channel = payload.get("input_channel")
    if channel is not None and not (isinstance(channel, str) and CHANNEL_NAME.match(channel)):
        return "`input_channel` must be a short lower-case name"
    if channel in other_channels:
        return f"`input_channel` may not name Kefu's own channel '{channel}'"
    return None


def kefu_channels(request: Request) -> frozenset[str]:
    """The names of the server's input channels other than REST, and Rasa's default Socket.IO one."""
    channels = getattr(request.app.ctx, "input_channels", None) or []
    return frozenset({channel.name() for channel in channels} | {"socketio"}) - {"rest"}


async def check_rest_body(request: Request) -> HTTPResponse | None:
    if request.method != "POST" or request.path.rstrip("/") != REST_WEBHOOK:
        return None
    problem = rest_body_problem(request.body, kefu_channels(request))
    if problem is None:
        return None
    logger.info("rest.request.rejected reason=%s", problem)
    return response.json({"error": problem}, status=400)
