"""An SMS gateway client for a documented-style JSON API (the shape most Chinese SMS
platforms offer behind their SDKs):

``POST {base}/v1/sms/send`` with ``Authorization: Bearer <key>`` and
``{"to": "+8613800000000", "sender": "<sign>", "text": "...", "client_ref": "<id>"}``;
the gateway answers ``200 {"code": 0, "message_id": "..."}``, or a non-zero ``code`` with a
``message`` (e.g. 1001 bad number, 1002 content rejected, 1003 rate limited). Failures are told apart
(``bot/notify.py``): surely nothing sent — the gateway could not be connected to, refused Kefu's key
(401, 403), was rate-limited (1003, 429) or failing (5xx); maybe sent — a timeout or a connection broken
once the request was on its way; refused for good — any other code or 4xx. The first two are tried
again later, the last is not.
"""
from __future__ import annotations

import logging
import uuid

from bot.notify import Notifier, NotifyError, Refused, nothing_taken, render_selfhelp
from bot.outbound.posting import post_json
from bot.ivr.services import local_phone

logger = logging.getLogger(__name__)

RATE_LIMITED = 1003  # the gateway's "too many, try later": the outbox tries again, as for HTTP 429
MAX_SMS_CHARS = 500  # long messages are split by the gateway; refuse runaway ones here
# Placeholder values as long as real ones get (TK + 6 digits; an arrears amount in yuan), for measuring
# an editor's SMS wording before any customer is sent it.
LONGEST_VALUES = {"ticket_id": "TK0000000", "amount": "99999.99", "callback_by": "12-31 23:59"}


def too_long_for_sms(text: str) -> str | None:
    """Why ``text`` would be refused for good at sending, if it would: for `kefu validate` to say where the
    editor wrote it, instead of the customer getting nothing (an SMS refused ends ``channel_refused``)."""
    if len(text) <= MAX_SMS_CHARS:
        return None
    return (f"its SMS would be {len(text)} characters and the gateway takes at most {MAX_SMS_CHARS}, so it "
            "could not be sent: shorten it")


class SmsGateway(Notifier):
    def __init__(self, base_url: str, api_key: str, sender_id: str, *, timeout_s: float = 10.0,
                 selfhelp_templates: dict | None = None) -> None:
        if not base_url or not api_key:
            raise NotifyError("the SMS gateway needs a URL and an API key (KEFU_SMS_GATEWAY_URL/_KEY)")
        self.url = f"{base_url.rstrip('/')}/v1/sms/send"
        self.api_key = api_key
        self.sender_id = sender_id
        self.timeout_s = timeout_s
        self.selfhelp_templates = selfhelp_templates or {}

    @classmethod
    def from_settings(cls, settings) -> "SmsGateway":
        return cls(settings.sms_gateway_url, settings.sms_gateway_key, settings.sms_sender_id)

    async def send(self, to: str, message: dict) -> None:
        phone = local_phone(to)
        text = (message.get("text") or "").strip()
        if phone is None:
            raise NotifyError("SMS recipient is not a mainland mobile number")
        if not text or len(text) > MAX_SMS_CHARS:
            raise NotifyError(f"SMS text must be 1..{MAX_SMS_CHARS} characters")
        body = {"to": f"+86{phone}", "sender": self.sender_id, "text": text,
                "client_ref": str(message.get("client_ref") or uuid.uuid4().hex)}
        headers = {"Authorization": f"Bearer {self.api_key}"}
        status, reply = await post_json(self.url, api="SMS gateway", timeout_s=self.timeout_s, json=body,
                                        headers=headers)
        if status != 200 or not isinstance(reply, dict) or reply.get("code") != 0:
            code = reply.get("code") if isinstance(reply, dict) else None
            raise Refused(f"SMS gateway refused the message: HTTP {status}, code {code}", status,
                          sent_nothing=nothing_taken(status) or code == RATE_LIMITED)
        logger.info("notify.sms.sent message_id=%s", reply.get("message_id"))

    async def send_selfhelp(self, to: str, channel: str, entry, *, voice_message_id: str | None = None) -> None:
        await self.send(to, {"text": render_selfhelp(entry, self.selfhelp_templates)})
