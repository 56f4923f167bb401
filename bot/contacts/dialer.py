"""Place an automated call through a telephony REST API in Twilio's documented format.

Twilio's Call resource (https://www.twilio.com/docs/voice/api/call-resource): ``POST
{api}/2010-04-01/Accounts/{AccountSid}/Calls.json`` with HTTP Basic auth (AccountSid:AuthToken) and
the form fields ``To``, ``From``, ``Twiml`` (instructions run when the callee answers),
``StatusCallback`` with ``StatusCallbackEvent`` (the carrier POSTs ``CallSid`` and ``CallStatus`` as the
call rings, is answered, and ends — ``completed``, ``busy``, ``no-answer``, ``failed``, ``canceled``) and
``Timeout`` (seconds to let it ring). The answer is ``201`` with the call's ``sid``; a refusal is
4xx with ``code`` and ``message``.

The TwiML connects the answered call to Kefu's own media stream (``<Connect><Stream>``), the same
endpoint and flow engine inbound calls use, with ``<Parameter>``s naming the flow, the customer's
number and the attempt's one-time token (``kefuContact``), which is what lets that call — and no
other — answer for the contact.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

import aiohttp

from bot.ivr.twilio import CONTACT_PARAMETER
from bot.notify import nothing_taken

logger = logging.getLogger(__name__)

FINAL_STATUSES = ("completed", "busy", "no-answer", "failed", "canceled")
NOT_REACHED = ("busy", "no-answer", "failed", "canceled")
CALL_EVENTS = ("ringing", "answered", "completed")  # StatusCallbackEvent: only final ones change the schedule


class DialError(Exception):
    """The telephony API refused the call or could not be reached; the message is for the log.

    ``not_placed``: surely no call, for a reason on Kefu's side, not the customer's — the API could not be
    connected to, refused Kefu's credentials (401, 403), or was overloaded or failing (429, 5xx). Otherwise
    the carrier may have the call (no answer came back in time) or refused this call itself (a bad number)."""

    def __init__(self, message: str, *, not_placed: bool = False) -> None:
        super().__init__(message)
        self.not_placed = not_placed


def stream_twiml(stream_url: str, parameters: dict[str, str]) -> str:
    params = "".join(f"<Parameter name={quoteattr(k)} value={quoteattr(str(v))}/>" for k, v in parameters.items())
    return f"<Response><Connect><Stream url={quoteattr(stream_url)}>{params}</Stream></Connect></Response>"


def stream_url_from(public_url: str) -> str:
    """Kefu's media-stream endpoint as the carrier reaches it (``ws(s)://…/webhooks/ivr/media``)."""
    base = public_url.rstrip("/")
    if base.startswith("https://"):
        base = "wss://" + base[len("https://"):]
    elif base.startswith("http://"):
        base = "ws://" + base[len("http://"):]
    return f"{base}/webhooks/ivr/media"


@dataclass(frozen=True)
class PlacedCall:
    sid: str
    status: str


@dataclass(frozen=True)
class Dialer:
    api_url: str
    account_sid: str
    auth_token: str
    from_number: str
    stream_url: str
    status_callback_url: str = ""
    timeout_s: float = 10.0

    @classmethod
    def from_settings(cls, settings) -> "Dialer | None":
        """The operator's telephony API, else (on a dev machine) the demo carrier; None: no calls."""
        from bot.contacts.carrier_account import carrier_account

        account = carrier_account(settings)
        if account is None:
            return None
        return cls(account.api_url, account.account_sid, account.auth_token, account.from_number,
                   stream_url_from(settings.public_url), f"{settings.public_url.rstrip('/')}/webhooks/ivr/status")

    async def place(self, to: str, *, flow: str, token: str, ring_timeout_s: int) -> PlacedCall:
        twiml = stream_twiml(self.stream_url, {"flow": flow, "caller": to, CONTACT_PARAMETER: token})
        form = [("To", to), ("From", self.from_number), ("Twiml", twiml), ("Timeout", str(int(ring_timeout_s)))]
        if self.status_callback_url:  # a list parameter is the field repeated, as Twilio's API takes it
            form += [("StatusCallback", self.status_callback_url)] + [("StatusCallbackEvent", e) for e in CALL_EVENTS]
        url = f"{self.api_url.rstrip('/')}/2010-04-01/Accounts/{self.account_sid}/Calls.json"
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout_s)) as http:
                async with http.post(url, data=form, auth=aiohttp.BasicAuth(self.account_sid, self.auth_token)) as answer:
                    body = await answer.json(content_type=None)
                    status = answer.status
        except aiohttp.ClientConnectorError as exc:  # no connection: nothing was sent
            raise DialError(f"telephony API unreachable: {type(exc).__name__}", not_placed=True) from exc
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            raise DialError(f"telephony API unreachable: {type(exc).__name__}") from exc
        if status not in (200, 201) or not isinstance(body, dict) or not body.get("sid"):
            code = body.get("code") if isinstance(body, dict) else None
            raise DialError(f"telephony API refused the call: HTTP {status}, code {code}",
                            not_placed=nothing_taken(status))
        logger.info("contacts.call.placed sid=%s status=%s", body["sid"], body.get("status"))
        return PlacedCall(str(body["sid"])[:64], str(body.get("status") or "queued"))
