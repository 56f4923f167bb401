"""Who may use Rasa's REST channel (``POST /webhooks/rest/webhook``), and what they may send.

REST is for the operator's own integrations, not the public: every turn can ask for a one-time
code, and REST sender ids cost nothing, so an open REST webhook let anyone spend the installation's
hourly budget of codes (``KEFU_OTP_PER_HOUR``) and lock every customer out of verification by SMS.
It answers a client that sends ``Authorization: Bearer $KEFU_REST_TOKEN``, or with no token set only
this machine (tests, ``curl`` beside ``make run``), never through a proxy. Customers use web chat,
WeChat or the phone.

Rasa answers 500 to a body that is not a JSON object with a text message (found by tests/fuzz): a
malformed request gets a 400 that says what is wrong. Registered as request middleware by the
``ops`` channel."""
from __future__ import annotations

import json
import logging
import re
from typing import Any

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.security.loopback import bearer_or_loopback
from bot.settings import get_settings

logger = logging.getLogger(__name__)

REST_WEBHOOK = "/webhooks/rest/webhook"
MAX_SENDER_CHARS = 128
MAX_MESSAGE_CHARS = 100_000  # bounds memory; the assistant takes the first 2000 (bot/channels/rest.py)
# At most 24 characters: the ``channel`` columns of the outcome record and the tickets (bot/db/schema.py).
# A longer name (32 were accepted) was refused by PostgreSQL on every event of the integration's turns,
# which held the whole outcome record up behind it.
CHANNEL_NAME = re.compile(r"^[a-z][a-z0-9_]{0,23}$")


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
        return "`input_channel` must be a short lower-case name (at most 24 letters, digits or _)"
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
    if not bearer_or_loopback(request, get_settings().rest_token):
        logger.warning("rest.request.refused reason=no_token client=%s", request.ip)
        return response.json({"error": "the REST channel needs the integration token "
                                       "(Authorization: Bearer $KEFU_REST_TOKEN)"}, status=401)
    problem = rest_body_problem(request.body, kefu_channels(request))
    if problem is None:
        return None
    logger.info("rest.request.rejected reason=%s", problem)
    return response.json({"error": problem}, status=400)
