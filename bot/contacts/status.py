"""The carrier's status callback for a placed contact call (Twilio's format).

When the call ends the carrier POSTs form fields ``CallSid`` and ``CallStatus`` (``completed``,
``busy``, ``no-answer``, ``failed``, ``canceled``) to the ``StatusCallback`` URL the dialer gave,
signed in ``X-Twilio-Signature``: base64 HMAC-SHA1, keyed by the auth token, of the full URL followed
by every POST parameter, sorted by name, as name + value
(https://www.twilio.com/docs/usage/webhooks/webhooks-security). A call that ended without the flow
finishing the contact is then retried on the next worker pass instead of waiting for its lease.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import logging

from bot.contacts.dialer import FINAL_STATUSES
from bot.contacts.schedule import Schedule
from bot.db.repository import Repository

logger = logging.getLogger(__name__)


def signature(auth_token: str, url: str, params: dict[str, str]) -> str:
    signed = url + "".join(f"{name}{params[name]}" for name in sorted(params))
    return base64.b64encode(hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()).decode()


def signed_by_carrier(auth_token: str, url: str, params: dict[str, str], given: str) -> bool:
    return bool(auth_token and given) and hmac.compare_digest(signature(auth_token, url, params), given)


def record_call_status(repository: Repository, params: dict[str, str]) -> bool:
    """Note a final status on the contact whose call it was; True when one was waiting for it."""
    status = params.get("CallStatus", "")
    call_sid = params.get("CallSid", "")
    if status not in FINAL_STATUSES or not call_sid:
        return False
    contact = Schedule(repository).mark_carrier_status(call_sid, status, ended_at=dt.datetime.utcnow())
    logger.info("contacts.call.status sid=%s status=%s contact=%s", call_sid, status, contact and contact["id"])
    return contact is not None
