"""Web-chat session ids that only the server can make.

A page resumes its conversation by sending back the id it was given; an id the server did not
issue starts a new conversation instead. Without this a client could open any conversation whose
id it had learnt or made up. An id is 16 random hex digits and 16 of an HMAC over them with the
channel secret, so every Rasa worker can check it without shared state, and it still reads as the
32 hex digits the Rasa web-chat widgets expect.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets

SESSION_ID = re.compile(r"^[0-9a-f]{32}$")


def _signature(nonce: str, secret: str) -> str:
    return hmac.new(secret.encode(), f"webchat:{nonce}".encode(), hashlib.sha256).hexdigest()[:16]


def issue(secret: str) -> str:
    nonce = secrets.token_hex(8)
    return nonce + _signature(nonce, secret)


def issued(session_id: object, secret: str) -> bool:
    """True for an id this server's secret signed."""
    if not isinstance(session_id, str) or not SESSION_ID.match(session_id):
        return False
    return hmac.compare_digest(session_id[16:], _signature(session_id[:16], secret))
