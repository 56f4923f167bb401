"""The NLU's last step: questions the editors' words name outright (bot/asked_outright.py) are bill questions.

Runs after every classifier (the fallback's too), so one place decides, whatever DIET guessed and however
unsure it was. The words are read when a message is, not when the model is trained: an editor's change to
them needs no retrain, as for the actions that read the same file.
"""
from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.asked_outright import INTENT as OUTRIGHT_INTENT, asked_outright
from bot.nlu.code_fingerprint import CodeFingerprinted


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class AskedOutrightClassifier(CodeFingerprinted, GraphComponent):
    """Sets the intent of a question the editors' words name; leaves every other message as it was read."""

    @classmethod
    def create(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "AskedOutrightClassifier":
        return cls()

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            if not asked_outright(message.get(TEXT) or ""):
                continue
            read = {"name": OUTRIGHT_INTENT, "confidence": 1.0}
            others = [i for i in message.get(INTENT_RANKING_KEY) or [] if i.get("name") != OUTRIGHT_INTENT]
            message.set(INTENT, read, add_to_output=True)
            message.set(INTENT_RANKING_KEY, [read, *others], add_to_output=True)
        return messages
