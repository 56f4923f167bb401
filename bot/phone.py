"""Phone numbers: the caller's number as the telephony side sends it, and the one normaliser of
mainland mobile numbers (``local_phone``). One reader for every part that needs them.

Twilio Media Streams do not carry the caller's number in ``start``; the operator's TwiML passes
it as ``<Parameter name="From" value="{{From}}"/>`` inside ``<Stream>`` and it arrives in
``start.customParameters``. Accepted names, first non-empty wins: ``From`` (Twilio's own
spelling), ``callerId``, ``from``, ``caller``. Used by the IVR serializer (the caller id in the call's
metadata, which identification and verification read).
"""
from __future__ import annotations

import re
import unicodedata
from typing import Mapping

CALLER_ID_PARAMETERS = ("From", "callerId", "from", "caller")
MAX_CALLER_ID_CHARS = 32
MAINLAND_MOBILE = re.compile(r"1[3-9]\d{9}", re.ASCII)  # fullmatch: ASCII digits only
# The conversation of the SMS replies from a number (bot/channels/sms_replies.py): its events name the
# number, no customer, so the privacy commands find it by this id (bot/privacy/subject.py).
SMS_CONVERSATION = "sms:{}"


def local_phone(value: object) -> str | None:
    """A mainland mobile number as Kefu stores and compares it (11 bare digits) from any spelling
    (``+86 139-1234-0001``, ``8613912340001``, ``0086 139…``: the country code as dialled from China),
    else None. The one normaliser: lookups (chat, phone, SMS) and the customer import (``bot/customers``)
    both use it, so a stored number is always found. Full-width digits, plus and hyphen (typed with a
    Chinese input method, ``１３９…``) are read as their ASCII forms; a number is only ever returned in ASCII
    digits, the form the lookups compare."""
    text = unicodedata.normalize("NFKC", str(value or ""))
    digits = re.sub(r"^(\+|00)?86", "", re.sub(r"[\s-]", "", text))
    return digits if MAINLAND_MOBILE.fullmatch(digits) else None


def caller_id(custom_parameters: Mapping | None) -> str:
    """The caller id from a stream's ``customParameters`` ("" when the carrier sent none)."""
    if not isinstance(custom_parameters, Mapping):
        return ""
    for name in CALLER_ID_PARAMETERS:
        value = str(custom_parameters.get(name) or "").strip()
        if value:
            return value[:MAX_CALLER_ID_CHARS]
    return ""
