"""A customer's answer to a secret prompt (an SMS code or the service password) is never stored.

The service password is kept only as a scrypt hash (bot/security/credentials.py) and an SMS code
only as a digest (bot/security/otp.py), yet the message that answered "please reply with the code
or your service password" used to be stored as typed: in the tracker in Redis, in Redis's
append-only file and in Rasa's conversation API (found by a data-protection audit). The tracker
store therefore writes every event through :func:`storage_forms`: a user message sent while Kefu
was waiting for proof (slot ``awaiting`` = ``verification_code``), or right after an agent at the
desk asked for a code or password, has each 6-digit answer replaced by ``******``, and so has a code
or password the customer names anywhere ("密码是135790"), or sends as six digits alone unless an agent asked
for something else — its text, its parse data and entities —
and so has any later event of that turn (a slot filled from it). Which numbers are secrets is
decided once, by ``bot.handoff.masking.proof_secrets``, for the desk as for storage. Verification is not affected: the action checks the answer in the turn's
tracker, which Rasa holds in memory; only what is written is blanked.
"""
from __future__ import annotations

from typing import Any, Sequence

from rasa.shared.core.events import AllSlotsReset, BotUttered, Event, Restarted, SessionStarted, SlotSet, UserUttered

from bot.handoff.masking import asks_for_proof, blanked_everywhere, proof_secrets, secret_pattern

AWAITING_SLOT = "awaiting"
# The responses that ask for proof (they go with ``awaiting`` = verification_code). The web chat marks
# them so the page opens a numeric keypad with SMS-code autofill and masks the answer on screen and in
# its sessionStorage (mobile tester: the password stayed readable in the bubble, on a bus).
PROOF_PROMPTS = frozenset({
    "utter_verification_code_sent", "utter_verification_code_sent_to_account",
    "utter_verification_password_only", "utter_verification_wrong", "utter_verification_password_paused",
})


def storage_forms(events: Sequence[Event], first: int = 0) -> list[dict[str, Any]]:
    """The dicts to store for ``events[first:]``, secrets blanked.

    What was awaited when a stored message was sent is found by looking back from ``first`` only
    as far as needed (to the latest user message and the ``awaiting`` slot set before it), so a
    turn's save does not walk the whole conversation.
    """
    awaiting, asked = _awaiting_before(events, first), _asked_before(events, first)
    latest_user = next((i for i in range(first - 1, -1, -1) if isinstance(events[i], UserUttered)
                        or _resets(events[i])), None)
    secrets: tuple[str, ...] = ()
    if latest_user is not None and isinstance(events[latest_user], UserUttered):
        secrets = _secrets(events[latest_user], _awaiting_before(events, latest_user),
                           _asked_before(events, latest_user))
    stored: list[dict[str, Any]] = []
    for event in events[first:]:
        if isinstance(event, UserUttered):
            secrets, asked = _secrets(event, awaiting, asked), None
        elif isinstance(event, BotUttered):
            asked = asks_for_proof(event.as_dict())
        form = event.as_dict()
        stored.append(blanked_everywhere(form, secret_pattern(set(secrets))) if secrets else form)
        if isinstance(event, SlotSet) and event.key == AWAITING_SLOT:
            awaiting = event.value
        elif _resets(event):
            awaiting = None
    return stored


def _secrets(message: UserUttered, awaiting: Any, asked: bool | None) -> tuple[str, ...]:
    return tuple(proof_secrets(message.text or "", awaiting, asked))


def _asked_before(events: Sequence[Event], index: int) -> bool | None:
    """Whether the message before ``events[index]`` was an agent's asking for a code or password (True), an
    agent's asking for something else (False), or no agent's (None): ``masking.asks_for_proof``."""
    for i in range(index - 1, -1, -1):
        event = events[i]
        if isinstance(event, BotUttered):
            return asks_for_proof(event.as_dict())
        if isinstance(event, UserUttered) or _resets(event):
            return None
    return None


def _resets(event: Event) -> bool:
    return isinstance(event, (SessionStarted, Restarted, AllSlotsReset))


def _awaiting_before(events: Sequence[Event], index: int) -> Any:
    """The ``awaiting`` slot's value just before ``events[index]``."""
    for i in range(index - 1, -1, -1):
        event = events[i]
        if isinstance(event, SlotSet) and event.key == AWAITING_SLOT:
            return event.value
        if _resets(event):
            return None
    return None
