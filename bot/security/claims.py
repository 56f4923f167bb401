"""Signed identity claims in message metadata (PyJWT, HS256); a bare sender id proves nothing.

Two kinds, both checked by the actions:

* **Integration tokens** — a system that already knows the user (a logged-in app) puts
  ``{"auth_token": "<JWT>"}`` in the message metadata, signed with ``KEFU_JWT_SECRET``:
  ``{"aud": "kefu", "sub": "<registered phone or account number>", "exp": <unix time>}``.
* **Channel claims** — a channel that has itself checked who is writing (the phone trunk's caller
  ID, a WeChat openid from a signed WeChat request) adds ``{"kefu_channel_claim": "<JWT>"}``
  signed with Kefu's internal channel secret and bound to the conversation id, so a REST client
  can neither forge one nor replay one into another conversation.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import jwt

logger = logging.getLogger(__name__)

ALGORITHM = "HS256"
INTEGRATION_TOKEN_KEY = "auth_token"
INTEGRATION_AUDIENCE = "kefu"
CHANNEL_CLAIM_KEY = "kefu_channel_claim"
CHANNEL_AUDIENCE = "kefu-channel"
CALLER_ID = "caller_id"
WECHAT_OPENID = "wechat_openid"
CHANNEL_KINDS = (CALLER_ID, WECHAT_OPENID)
# The slots a proof given in a conversation (a code, a password, a token) is kept in for its session
# (domain/verification.yml; set by actions/identity.py ``proven``).
SESSION_PROOF_SLOTS = ("verified_customer_id", "verified_by", "verified_channel")
CHANNEL_CLAIM_TTL_S = 600


@dataclass(frozen=True)
class Claim:
    kind: str  # "integration", "caller_id" or "wechat_openid"
    subject: str  # phone/account number, caller number, or openid


def channel_claim(kind: str, subject: str, conversation_id: str, secret: str | None = None) -> dict[str, str]:
    """The metadata entry a trusted channel adds to a user message it has authenticated."""
    if kind not in CHANNEL_KINDS:
        raise ValueError(f"unknown channel claim kind {kind!r}")
    if secret is None:
        from bot.security.secrets import get_secrets

        secret = get_secrets().channel_secret
    payload = {"aud": CHANNEL_AUDIENCE, "kind": kind, "sub": subject, "conv": conversation_id,
               "exp": int(time.time()) + CHANNEL_CLAIM_TTL_S}
    return {CHANNEL_CLAIM_KEY: jwt.encode(payload, secret, algorithm=ALGORITHM)}


def _decode(token: object, secret: str, audience: str, required: list[str]) -> dict | None:
    if not isinstance(token, str) or not token or not secret:
        return None
    try:
        return jwt.decode(token, secret, algorithms=[ALGORITHM], audience=audience,
                          options={"require": required})
    except jwt.PyJWTError as exc:
        logger.info("security.claim.rejected audience=%s reason=%s", audience, type(exc).__name__)
        return None


def proven_claims(metadata: dict | None, conversation_id: str, *, channel_secret: str,
                  jwt_secret: str) -> list[Claim]:
    """The claims in one message's metadata whose signatures (and conversation) check out."""
    metadata = metadata if isinstance(metadata, dict) else {}
    claims: list[Claim] = []
    channel = _decode(metadata.get(CHANNEL_CLAIM_KEY), channel_secret, CHANNEL_AUDIENCE,
                      ["exp", "sub", "kind", "conv"])
    if channel and channel["conv"] == conversation_id and channel["kind"] in CHANNEL_KINDS:
        claims.append(Claim(channel["kind"], str(channel["sub"])))
    integration = _decode(metadata.get(INTEGRATION_TOKEN_KEY), jwt_secret, INTEGRATION_AUDIENCE, ["exp", "sub"])
    if integration:
        claims.append(Claim("integration", str(integration["sub"])))
    return claims
