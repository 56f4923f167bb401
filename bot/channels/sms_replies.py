"""Replies to Kefu's text messages from the SMS gateway: ``POST /webhooks/sms/inbound``.

The gateway (bot/outbound/sms.py's documented-style JSON API) pushes a customer's reply as
``{"from": "+8613800000000", "text": "TD", "message_id": "..."}`` with ``Authorization: Bearer <key>``
(``KEFU_SMS_GATEWAY_KEY``). An opt-out word ("TD", ``content/contacts.yml``) puts the number on the
block list and queues the confirmation in the outbox; other replies are acknowledged and logged
(Kefu has no SMS conversation with the assistant). A gateway that did not hear Kefu's answer in time
posts the reply again with its ``message_id``: it is taken once (``ChannelGuard``), so the customer
gets one confirmation, not one per attempt.
"""
from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.guard import ChannelGuard
from bot.phone import SMS_CONVERSATION
from bot.security.offered_secret import is_secret
from bot.settings import Settings, get_settings

logger = logging.getLogger(__name__)

# A reply being handled holds its message_id this long (renewed by nothing: handling takes a second);
# a handled one is a duplicate for a day, longer than any gateway keeps retrying.
REPLY_LEASE_S = 30
REPLY_SEEN_S = 24 * 3600


class SmsRepliesInput(InputChannel):
    @classmethod
    def name(cls) -> Text:
        return "sms"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "SmsRepliesInput":
        return cls(get_settings())

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.guard = ChannelGuard(settings.redis.url, "kefu:sms")

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = Blueprint("sms_replies_webhook", __name__)

        @webhook.route("/inbound", methods=["POST"])
        async def inbound(request: Request) -> HTTPResponse:
            status, answer = await self.reply(request.headers.get("Authorization", ""), request.json)
            return response.json(answer, status=status)

        return webhook

    async def reply(self, authorization: str, body: Any) -> tuple[int, dict]:
        """One reply from the gateway: (HTTP status, JSON answer)."""
        key = self.settings.sms_gateway_key
        given = authorization.removeprefix("Bearer ")
        if not is_secret(given, key):
            return 401, {"code": 401, "message": "unauthorised"}
        body = body if isinstance(body, dict) else {}
        phone = local_number(str(body.get("from") or ""))
        if phone is None:
            return 400, {"code": 400, "message": "from must be a mobile number"}
        message_id = body.get("message_id")
        claim = f"reply:{message_id}" if isinstance(message_id, (str, int)) and str(message_id) else None
        if claim and not await self.guard.claim(claim, REPLY_LEASE_S):
            logger.info("sms.reply.duplicate")
            return 200, {"code": 0, "duplicate": True}
        try:
            opted_out = await self._opt_out(phone, str(body.get("text") or ""))
        except BaseException:
            if claim:  # not handled: the gateway's next attempt must be
                await self.guard.forget(claim)
            raise
        if claim:
            await self.guard.settle(claim, REPLY_SEEN_S)
        return 200, {"code": 0, "opted_out": opted_out}

    async def _opt_out(self, phone: str, text: str) -> bool:
        from bot.contacts.optout import opt_out_reply
        from bot.notify import NotifyError, OutboxNotifier

        reply = await opt_out_reply(self.settings, address=f"phone:{phone}", text=text,
                                    conversation_id=SMS_CONVERSATION.format(phone), channel="sms")
        if reply is None:
            logger.info("sms.reply.ignored chars=%d", len(text))
            return False
        try:
            await OutboxNotifier.from_settings(self.settings).send(phone, {"channel": "sms", "kind": "opt_out",
                                                                          "text": reply})
        except NotifyError as exc:  # the opt-out itself is recorded; only the confirmation is lost
            logger.warning("sms.optout.confirmation_failed error=%s", exc)
        return True


def local_number(sender: str) -> str | None:
    from bot.ivr.services import local_phone

    return local_phone(sender)
