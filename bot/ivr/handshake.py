"""Whether the carrier itself opened a media stream: Twilio signs the WebSocket handshake.

Anyone can open ``/webhooks/ivr/media`` (the browser softphone does), so what a stream says about
itself proves nothing: not the caller's number, and not its ``callSid``, which the voice bridge
hands to the carrier's REST API to redirect that call to an agent. Twilio signs the handshake as it
signs a webhook (``X-Twilio-Signature``: base64 HMAC-SHA1 with the account's auth token of the URL it
was given, here with no parameters; "Media Streams configuration" in Twilio's docs asks every stream
server to check it). The URL is the stream URL of the operator's TwiML, ``wss://`` + Kefu's public
address; the ``https://`` spelling of the same address is accepted too.

A trunk speaking the same wire format (not Twilio) vouches for its stream with ``kefuTrunkToken`` in its
``start`` (:mod:`bot.ivr.twilio`), or, if it can send a header with the handshake, ``Authorization: Bearer``
and the same token (SignalWire's Twilio-format Streams take an ``AuthorizationBearerToken``): such a socket
is known as the carrier's from its first byte, so sockets that send nothing cannot crowd it out before its
start (:class:`bot.ivr.places.Unstarted`). Twilio strips a query string from a stream URL (error 31922:
"use nested <Parameter> values instead"), so no token is read from the URL.
"""
from __future__ import annotations

from sanic.request import Request

from bot.contacts.dialer import stream_url_from
from bot.contacts.status import signed_by_carrier
from bot.security.offered_secret import is_secret


def signed_urls(public_url: str, query: str) -> tuple[str, ...]:
    stream = stream_url_from(public_url)
    web = f"{public_url.rstrip('/')}/webhooks/ivr/media"
    suffix = f"?{query}" if query else ""
    return stream + suffix, web + suffix


def carrier_signed(request: Request, public_url: str, auth_token: str) -> bool:
    given = request.headers.get("X-Twilio-Signature", "")
    return any(signed_by_carrier(auth_token, url, {}, given)
               for url in signed_urls(public_url, request.query_string))


def trunk_authorized(request: Request, trunk_token: str) -> bool:
    """The handshake carries ``Authorization: Bearer <KEFU_IVR_TRUNK_TOKEN>`` (never with no token set)."""
    scheme, _, given = request.headers.get("Authorization", "").strip().partition(" ")
    return scheme.lower() == "bearer" and is_secret(given.strip(), trunk_token)
