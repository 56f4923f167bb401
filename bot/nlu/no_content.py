"""Send messages with nothing to understand straight to ``nlu_fallback``.

DIET classifies anything, so emoji-only, punctuation-only or blank messages
would otherwise get a confident but random intent (say, "affirm" for 😀).
A message counts as having content if it holds a CJK character, a letter or a digit.

Latin letters alone are not enough: keyboard mashing ("asdfgh", "qwe qwe") would get a
confident intent too. A message written only in Latin letters (no CJK, no digit) counts as
content only if at least one of its words appears in the training examples ("hello",
"wifi", "ok"); the component learns those words when the model is trained.
"""
from __future__ import annotations

import json
import logging
import re
import unicodedata
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.constants import DEFAULT_NLU_FALLBACK_INTENT_NAME
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.code_fingerprint import CodeFingerprinted

logger = logging.getLogger(__name__)

CONTENT = re.compile(r"[\u3400-\u9fff\uf900-\ufaffA-Za-z0-9\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]")
CJK_OR_DIGIT = re.compile(r"[\u3400-\u9fff\uf900-\ufaff0-9]")
LATIN_WORD = re.compile(r"[a-z]+")
VOCABULARY_FILE = "latin_words.json"


def has_content(text: str | None) -> bool:
    return bool(text and CONTENT.search(text))


def latin_words(text: str) -> set[str]:
    return set(LATIN_WORD.findall(unicodedata.normalize("NFKC", text).lower()))


def is_gibberish(text: str | None, known_words: set[str]) -> bool:
    """Latin letters only, none of them a word the assistant was taught."""
    if not text:
        return False
    folded = unicodedata.normalize("NFKC", text)
    if CJK_OR_DIGIT.search(folded):
        return False
    words = latin_words(folded)
    return bool(words) and not words & known_words


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class NoContentClassifier(CodeFingerprinted, GraphComponent):
    """Runs after the intent classifiers; overrides the intent of content-free messages."""

    def __init__(self, model_storage: ModelStorage | None = None, resource: Resource | None = None,
                 known_words: set[str] | None = None) -> None:
        self._model_storage = model_storage
        self._resource = resource
        self.known_words = known_words or set()

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "NoContentClassifier":
        return cls(model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        """Remember every Latin word of the training examples (the ones users may type)."""
        self.known_words = set()
        for example in training_data.intent_examples:
            self.known_words |= latin_words(example.get(TEXT) or "")
        with self._model_storage.write_to(self._resource) as directory:
            (directory / VOCABULARY_FILE).write_text(json.dumps(sorted(self.known_words)), encoding="utf-8")
        return self._resource

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> "NoContentClassifier":
        try:
            with model_storage.read_from(resource) as directory:
                words = set(json.loads((directory / VOCABULARY_FILE).read_text(encoding="utf-8")))
        except (ValueError, FileNotFoundError):
            logger.warning("nlu.no_content.vocabulary_missing resource=%s", resource.name)
            words = set()
        return cls(model_storage, resource, words)

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT)
            if not has_content(text) or is_gibberish(text, self.known_words):
                fallback = {"name": DEFAULT_NLU_FALLBACK_INTENT_NAME, "confidence": 1.0}
                message.set(INTENT, fallback, add_to_output=True)
                message.set(INTENT_RANKING_KEY, [fallback], add_to_output=True)
        return messages
