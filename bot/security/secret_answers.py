"""A customer's answer to a secret prompt (an SMS code or the service password) is never stored.

The service password is kept only as a scrypt hash (bot/security/credentials.py) and an SMS code
only as a digest (bot/security/otp.py), yet the message that answered "please reply with the code
or your service password" used to be stored as typed: in the tracker in Redis, in Redis's
append-only file and in Rasa's conversation API (found by a data-protection audit). The tracker
store therefore writes every event through :func:`storage_forms`: a user message sent while Kefu
was waiting for proof (slot ``awaiting`` = ``verification_code``) has each 6-digit answer replaced
by ``******`` — its text, its parse data and entities — and so has any later event of that turn (a
slot filled from it). Verification is not affected: the action checks the answer in the turn's
tracker, which Rasa holds in memory; only what is written is blanked.
"""
from __future__ import annotations

import re
from typing import Any, Sequence

from rasa.shared.core.events import AllSlotsReset, Event, Restarted, SessionStarted, SlotSet, UserUttered

from bot.handoff.masking import AWAITING_PROOF, PROOF, PROOF_SHOWN

AWAITING_SLOT = "awaiting"


def storage_forms(events: Sequence[Event], first: int = 0) -> list[dict[str, Any]]:
    """The dicts to store for ``events[first:]``, secrets blanked.

    Walks the events before ``first`` as well (attribute checks only, no serialising) to know
    whether Kefu was waiting for proof when a stored message was sent.
    """
    awaiting: Any = None
    secrets: tuple[str, ...] = ()
    stored: list[dict[str, Any]] = []
    for index, event in enumerate(events):
        if isinstance(event, UserUttered):
            secrets = tuple(set(PROOF.findall(event.text or ""))) if awaiting == AWAITING_PROOF else ()
        if index >= first:
            form = event.as_dict()
            stored.append(_blanked(form, _pattern(secrets)) if secrets else form)
        if isinstance(event, SlotSet) and event.key == AWAITING_SLOT:
            awaiting = event.value
        elif isinstance(event, (SessionStarted, Restarted, AllSlotsReset)):
            awaiting = None
    return stored


def _pattern(secrets: tuple[str, ...]) -> re.Pattern:
    return re.compile(r"(?<!\d)(?:" + "|".join(map(re.escape, secrets)) + r")(?!\d)")


def _blanked(value: Any, pattern: re.Pattern) -> Any:
    if isinstance(value, str):
        return pattern.sub(PROOF_SHOWN, value)
    if isinstance(value, dict):
        return {key: _blanked(item, pattern) for key, item in value.items()}
    if isinstance(value, list):
        return [_blanked(item, pattern) for item in value]
    if isinstance(value, int) and not isinstance(value, bool) and pattern.fullmatch(str(value)):
        return PROOF_SHOWN  # a number an extractor made of the answer
    return value
