"""Ask which of two close intents the customer meant, instead of guessing.

Rasa's FallbackClassifier turns an unsure top guess (``threshold``) or one barely ahead of the
second (``ambiguity_threshold``) into ``nlu_fallback`` but keeps the classifier's ranking in
the parse data. When the two best guesses there are both plausible and close, the fallback
asks a short question with both as buttons; a tap sends that intent. The intents' names come
from ``intent_label`` in content/labels.yml; intents without a name are never offered.
"""
from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.backend import channel_of, labels

SECOND_AT_LEAST = 0.2  # the runner-up must be a real candidate, not noise
GAP_AT_MOST = 0.25  # and close enough to the winner that guessing would be a coin toss


def close_pair(parse_data: dict[str, Any], named: dict[str, str]) -> tuple[str, str] | None:
    """The two best intents if they are close and both have a name to show, else None."""
    ranking = [r for r in parse_data.get("intent_ranking") or [] if r.get("name") != "nlu_fallback"]
    if len(ranking) < 2:
        return None
    first, second = ranking[0], ranking[1]
    if second["confidence"] < SECOND_AT_LEAST or first["confidence"] - second["confidence"] > GAP_AT_MOST:
        return None
    if first["name"] not in named or second["name"] not in named:
        return None
    return first["name"], second["name"]


def ask_which_intent(dispatcher: CollectingDispatcher, tracker: Tracker) -> bool:
    """Ask "A or B?" about the latest message; False when it was not a close call."""
    named = labels().get("intent_label") or {}
    pair = close_pair(tracker.latest_message or {}, named)
    if pair is None:
        return False
    first, second = pair
    buttons = [] if channel_of(tracker) == "ivr" else [
        {"title": named[first], "payload": f"/{first}"}, {"title": named[second], "payload": f"/{second}"}]
    dispatcher.utter_message(response="utter_ask_which_intent", first=named[first], second=named[second],
                             buttons=buttons)
    return True
