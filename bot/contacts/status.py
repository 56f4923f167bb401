"""The carrier's status callback for a placed contact call (Twilio's format).

When the call ends the carrier POSTs form fields ``CallSid`` and ``CallStatus`` (``completed``,
``busy``, ``no-answer``, ``failed``, ``canceled``) to the ``StatusCallback`` URL the dialer gave,
signed in ``X-Twilio-Signature``: base64 HMAC-SHA1, keyed by the auth token, of the full URL followed
by every POST parameter, sorted by name, as name + value
(https://www.twilio.com/docs/usage/webhooks/webhooks-security). A call that ended without the flow
finishing the contact is then retried on the next worker pass instead of waiting for its lease. The
``ringing`` and ``in-progress`` callbacks give the call its ring and call time from then on: a carrier
pacing a burst of calls (at 08:00, when the quiet hours end) rings some minutes after they were placed,
and the schedule took such a call for unanswered while the customer was keying their answer.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import logging

from bot.contacts.dialer import FINAL_STATUSES
from bot.contacts.rules import ContactRules
from bot.contacts.schedule import Schedule
from bot.db.repository import Repository
from bot.security.offered_secret import is_secret

logger = logging.getLogger(__name__)

PROGRESS = ("ringing", "in-progress")  # the call rings, or was answered: its time counts from now


def signature(auth_token: str, url: str, params: dict[str, str]) -> str:
    signed = url + "".join(f"{name}{params[name]}" for name in sorted(params))
    return base64.b64encode(hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()).decode()


def signed_by_carrier(auth_token: str, url: str, params: dict[str, str], given: str) -> bool:
    return bool(auth_token and given) and is_secret(given, signature(auth_token, url, params))


def record_call_status(repository: Repository, params: dict[str, str], rules: ContactRules | None = None,
                       now: dt.datetime | None = None) -> bool:
    """Note a final status on the contact whose call it was, or (with the contact ``rules``) give a call the
    carrier reports ringing or answered its ring and call time from now; True when a contact was
    waiting for it."""
    status = params.get("CallStatus", "")
    call_sid = params.get("CallSid", "")
    now = now or dt.datetime.utcnow()
    if status in PROGRESS and call_sid and rules is not None:
        lease = rules.call_timeout + (rules.ring_timeout if status == "ringing" else dt.timedelta(0))
        contact = Schedule(repository).call_in_progress(call_sid, now + lease)
        logger.info("contacts.call.progress sid=%s status=%s contact=%s", call_sid, status, contact and contact["id"])
        return contact is not None
    if status not in FINAL_STATUSES or not call_sid:
        return False
    contact = Schedule(repository).mark_carrier_status(call_sid, status, ended_at=now)
    logger.info("contacts.call.status sid=%s status=%s contact=%s", call_sid, status, contact and contact["id"])
    return contact is not None


def contact_rules(settings) -> ContactRules | None:
    """The contact rules for the status webhook (None when no usable rules were ever loaded: final
    statuses are still noted)."""
    from bot.contacts.rules import ContactRulesError, current_rules

    try:
        return current_rules(settings.content_dir / "contacts.yml")
    except ContactRulesError as exc:
        logger.warning("contacts.call.status.no_rules error=%s", exc)
        return None
