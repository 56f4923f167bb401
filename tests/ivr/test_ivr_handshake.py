"""Twilio signs a media stream's WebSocket handshake; only a signed one is the carrier's (bot/ivr/handshake.py).

Real Sanic requests, as the WebSocket route receives them; the signature is Twilio's webhook signature
(bot/contacts/status.py, checked there against Twilio's documented example) of the stream URL."""
from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest
from sanic import Sanic
from sanic.compat import Header
from sanic.request import Request

from bot.contacts.status import signature
from bot.ivr.handshake import carrier_signed

APP = Sanic(f"handshake_{uuid.uuid4().hex[:8]}")
PUBLIC = "https://kefu.example.cn"
TOKEN = "twilio-auth-token"


def handshake(signed: str | None, path: str = "/webhooks/ivr/media") -> Request:
    made = Request(path.encode(), Header({"X-Twilio-Signature": signed} if signed is not None else {}),
                   "1.1", "GET", None, APP)
    made.conn_info = SimpleNamespace(client_ip="127.0.0.1")
    return made


@pytest.mark.parametrize("url", ["wss://kefu.example.cn/webhooks/ivr/media", "https://kefu.example.cn/webhooks/ivr/media"])
def test_twilios_signature_of_the_stream_url_makes_the_stream_the_carriers(url):
    assert carrier_signed(handshake(signature(TOKEN, url, {})), PUBLIC, TOKEN)


def test_the_query_string_is_part_of_the_signed_url():
    url = "wss://kefu.example.cn/webhooks/ivr/media?line=2"
    assert carrier_signed(handshake(signature(TOKEN, url, {}), "/webhooks/ivr/media?line=2"), PUBLIC, TOKEN)
    assert not carrier_signed(handshake(signature(TOKEN, url, {}), "/webhooks/ivr/media?line=3"), PUBLIC, TOKEN)


@pytest.mark.parametrize("signed", [None, "", signature("a-guessed-token", "wss://kefu.example.cn/webhooks/ivr/media", {}),
                                    signature(TOKEN, "wss://attacker.example/webhooks/ivr/media", {})])
def test_no_wrong_or_foreign_signature_is_the_carriers(signed):
    assert not carrier_signed(handshake(signed), PUBLIC, TOKEN)


def test_without_an_auth_token_no_handshake_is_signed():
    assert not carrier_signed(handshake(signature("", "wss://kefu.example.cn/webhooks/ivr/media", {})), PUBLIC, "")


def test_a_signature_with_non_ascii_characters_is_refused_not_a_crash():
    """Found in review: ``hmac.compare_digest`` refuses to compare such text (TypeError), so any client
    could make the handshake (and the carrier's status callback) fail with a 500 and a logged traceback."""
    assert not carrier_signed(handshake("签名" * 14), PUBLIC, TOKEN)
