"""Misunderstandings in a row, read from the tracker, and the offer of a person they lead to.

The README promises a human after two misunderstandings. A customer turn counts as
misunderstood when

* the NLU could not place it (``nlu_fallback``, ``out_of_scope``),
* the bot answered it with a fallback-like reply (the clarifying reply, the offer of a person
  made because of misunderstandings, Rasa's core fallback), or
* it is a low-confidence guess (below ``GUESS_CONFIDENCE``) of the same intent as the turn
  before — the customer said something twice and the bot was unsure both times.

State lives in the tracker (nothing in process memory), so every Rasa worker agrees.
"""
from __future__ import annotations

from typing import Any, Iterator

from rasa_sdk import Tracker

GUESS_CONFIDENCE = 0.7
MISUNDERSTOOD_BEFORE_OFFER = 2
FALLBACK_INTENTS = frozenset({"nlu_fallback", "out_of_scope"})
FALLBACK_ACTIONS = frozenset({"action_fallback", "action_default_fallback", "utter_default",
                              "utter_misunderstood_offer_human", "utter_offer_human",
                              "utter_knowledge_no_answer"})


def intent_of(user_event: dict[str, Any]) -> tuple[str, float]:
    intent = (user_event.get("parse_data") or {}).get("intent") or {}
    return str(intent.get("name") or ""), float(intent.get("confidence") or 0.0)


def turns(events: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], set[str]]]:
    """Each customer message with the names of the actions and responses that answered it."""
    user, answered = None, set()
    for event in events:
        kind = event.get("event")
        if kind == "user":
            if user is not None:
                yield user, answered
            user, answered = event, set()
        elif user is not None and kind == "action" and event.get("name") != "action_listen":
            answered.add(str(event.get("name")))
        elif user is not None and kind == "bot":
            answered.add(str((event.get("metadata") or {}).get("utter_action") or ""))
    if user is not None:
        yield user, answered


def is_low_guess(user_event: dict[str, Any]) -> bool:
    name, confidence = intent_of(user_event)
    return name not in FALLBACK_INTENTS and confidence < GUESS_CONFIDENCE


# Replies the fallback gives words it placed after all: such a turn was understood ("3分吧" to the score question,
# actions/csat.py; counted, the customer's next unclear message was offered a person at once).
UNDERSTOOD_AFTER_ALL = frozenset({"utter_csat_thanks"})


def misunderstood(user_event: dict[str, Any], answered: set[str], previous: dict[str, Any] | None) -> bool:
    if answered & UNDERSTOOD_AFTER_ALL:
        return False
    if intent_of(user_event)[0] in FALLBACK_INTENTS or answered & FALLBACK_ACTIONS:
        return True
    return previous is not None and repeated_guess(user_event, previous)


def repeated_guess(user_event: dict[str, Any], previous: dict[str, Any]) -> bool:
    return is_low_guess(user_event) and is_low_guess(previous) and intent_of(user_event)[0] == intent_of(previous)[0]


def misunderstood_in_a_row(tracker: Tracker) -> int:
    """Called while falling back: the current turn (misunderstood) plus the misunderstood turns just before it."""
    history = list(turns(tracker.events))[:-1]
    flags = [misunderstood(user, answered, history[i - 1][0] if i else None)
             for i, (user, answered) in enumerate(history)]
    count = 1
    for flag in reversed(flags):
        if not flag:
            break
        count += 1
    return count


def current_is_repeated_guess(tracker: Tracker) -> bool:
    """The latest message is a low-confidence guess of the same intent as the one before."""
    history = [user for user, _ in turns(tracker.events)]
    return len(history) >= 2 and repeated_guess(history[-1], history[-2])
