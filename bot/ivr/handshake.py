"""Whether the carrier itself opened a media stream: Twilio signs the WebSocket handshake.

Anyone can open ``/webhooks/ivr/media`` (the browser softphone does), so what a stream says about
itself proves nothing: not the caller's number, and not its ``callSid``, which the voice bridge
hands to the carrier's REST API to redirect that call to an agent. Twilio signs the handshake as it
signs a webhook (``X-Twilio-Signature``: base64 HMAC-SHA1 with the account's auth token of the URL it
was given, here with no parameters; "Media Streams configuration" in Twilio's docs asks every stream
server to check it). The URL is the stream URL of the operator's TwiML, ``wss://`` + Kefu's public
address; the ``https://`` spelling of the same address is accepted too.
"""
from __future__ import annotations

from sanic.request import Request

from bot.contacts.dialer import stream_url_from
from bot.contacts.status import signed_by_carrier


def signed_urls(public_url: str, query: str) -> tuple[str, ...]:
    stream = stream_url_from(public_url)
    web = f"{public_url.rstrip('/')}/webhooks/ivr/media"
    suffix = f"?{query}" if query else ""
    return stream + suffix, web + suffix


def carrier_signed(request: Request, public_url: str, auth_token: str) -> bool:
    given = request.headers.get("X-Twilio-Signature", "")
    return any(signed_by_carrier(auth_token, url, {}, given)
               for url in signed_urls(public_url, request.query_string))
