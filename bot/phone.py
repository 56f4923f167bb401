"""The caller's number as the telephony side sends it: one reader for every part that needs it.

Twilio Media Streams do not carry the caller's number in ``start``; the operator's TwiML passes
it as ``<Parameter name="From" value="{{From}}"/>`` inside ``<Stream>`` and it arrives in
``start.customParameters``. Accepted names, first non-empty wins: ``From`` (Twilio's own
spelling), ``callerId``, ``from``, ``caller``. Used by the IVR serializer (the caller id in the call's
metadata, which identification and verification read).
"""
from __future__ import annotations

from typing import Mapping

CALLER_ID_PARAMETERS = ("From", "callerId", "from", "caller")
MAX_CALLER_ID_CHARS = 32


def caller_id(custom_parameters: Mapping | None) -> str:
    """The caller id from a stream's ``customParameters`` ("" when the carrier sent none)."""
    if not isinstance(custom_parameters, Mapping):
        return ""
    for name in CALLER_ID_PARAMETERS:
        value = str(custom_parameters.get(name) or "").strip()
        if value:
            return value[:MAX_CALLER_ID_CHARS]
    return ""
