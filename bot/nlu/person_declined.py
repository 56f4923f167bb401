"""A message declining a person is never read as asking for one.

"不用转人工，帮我看看网络的问题" and "不用人工了" are mostly made of the words that ask for a person, and DIET read
them as ``request_human`` (0.71 and 0.89): the customer was queued for the agent they had just declined (found
trying the chat). With one of the editors' ``person_declined_words`` (content/labels.yml) in the message, this step
takes ``request_human`` out of the ranking and spreads its share over the rest, as if it had never been a choice.
It runs before the FallbackClassifier, which then asks again when what is left is unsure (as for the first example
today, whose request the rest ranks at 0.28) instead of guessing. The words are read when a message is, so an
editor's change needs no retrain.
"""
from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.labels import labels, names_any
from bot.nlu.code_fingerprint import CodeFingerprinted

REQUEST_HUMAN = "request_human"


def declines_a_person(text: str) -> bool:
    return names_any(text, labels().get("person_declined_words"))


def without_intent(ranking: list[dict], name: str) -> list[dict]:
    """``ranking`` without ``name``, the others' confidences rescaled to sum as before (what each would have been
    had ``name`` not been a choice)."""
    others = [dict(intent) for intent in ranking if intent.get("name") != name]
    total, kept = sum(i.get("confidence") or 0.0 for i in ranking), sum(i.get("confidence") or 0.0 for i in others)
    for intent in others:
        intent["confidence"] = (intent.get("confidence") or 0.0) * total / kept if kept else 0.0
    return others


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class PersonDeclinedClassifier(CodeFingerprinted, GraphComponent):
    """Takes ``request_human`` out of the reading of a message that declines a person."""

    @classmethod
    def create(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "PersonDeclinedClassifier":
        return cls()

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            ranking = message.get(INTENT_RANKING_KEY) or []
            if not any(i.get("name") == REQUEST_HUMAN for i in ranking) or not declines_a_person(message.get(TEXT) or ""):
                continue
            rest = without_intent(ranking, REQUEST_HUMAN)
            message.set(INTENT_RANKING_KEY, rest, add_to_output=True)
            message.set(INTENT, rest[0] if rest else {"name": None, "confidence": 0.0}, add_to_output=True)
        return messages
