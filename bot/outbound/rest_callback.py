"""Push what an agent or the waiting room says to a REST integration, at its callback URL.

A REST client only gets the answers to its own requests; later messages wait in the outbox
(channel ``rest``, see ``bot/handoff/rest_delivery.py``). This adapter posts each one to the
integration's ``KEFU_REST_CALLBACK_URL`` in the shape the REST webhook answers with (Rasa's
``recipient_id`` plus the message's ``text``, ``buttons``, ``image``, ``custom``), with the
outbox id as ``client_ref`` so a retried delivery can be recognised. The body is signed with
HMAC-SHA256 of ``KEFU_REST_CALLBACK_SECRET`` in ``X-Kefu-Signature: sha256=<hex>``, so the
integration knows it came from Kefu.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json

import aiohttp

from bot.notify import Notifier, NotifyError, Refused, Unreachable

SIGNATURE_HEADER = "X-Kefu-Signature"


def signature(secret: str, body: bytes) -> str:
    """The header value an integration recomputes to check a delivery."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class RestCallback(Notifier):
    def __init__(self, url: str, secret: str, *, timeout_s: float = 10.0, name: str = "REST callback",
                 settings_named: str = "KEFU_REST_CALLBACK_URL and KEFU_REST_CALLBACK_SECRET") -> None:
        if not url or not secret:
            raise NotifyError(f"{name}s need {settings_named} (the key each delivery is signed with)")
        self.url = url
        self.secret = secret
        self.timeout_s = timeout_s
        self.name = name

    @classmethod
    def from_settings(cls, settings) -> "RestCallback":
        return cls(settings.rest_callback_url, settings.rest_callback_secret)

    async def send(self, to: str, message: dict) -> None:
        await self.post({"recipient_id": to, **message})

    async def post(self, document: dict, headers: dict | None = None) -> None:
        """POST ``document`` as JSON, signed; NotifyError unless the receiver answers 2xx."""
        body = json.dumps(document, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: signature(self.secret, body), **(headers or {})}
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout_s)) as http:
                async with http.post(self.url, data=body, headers=headers) as answer:
                    status = answer.status
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise Unreachable(f"{self.name} unreachable: {type(exc).__name__}") from exc
        if not 200 <= status < 300:
            raise Refused(f"{self.name} refused the message: HTTP {status}", status)

    async def send_selfhelp(self, to: str, channel: str, entry, *, voice_message_id: str | None = None) -> None:
        raise NotifyError("self-help reaches REST integrations as conversation messages")
