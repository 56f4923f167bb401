"""A second reading of the messages the blend doubts, by a larger encoder (multilingual E5).

DIET and the USE regression (``bot/nlu/blended_intents.py``) agree on most messages; where their
blend's best intent is below ``doubt_below``, a logistic regression on multilingual E5's vectors
(``bot/nlu/e5_encoder.py``) gets a third of the say. Offline, on real customers' posts, that turned
15 wrong intents right and 4 right ones wrong over three seeds, while on our own held-out examples it
changed almost nothing; E5 read 7-12% of the messages (bench/RESULTS.md, "A second reading").
Asking it only then keeps its cost (about 1 ms of CPU per token) off the turns that need no help.
It runs before the FallbackClassifier, so a blend that stays doubtful still asks the clarifying question.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.nlu.constants import INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.nlu import e5_encoder
from bot.nlu.blended_intents import BlendedIntentClassifier
from bot.observability import metrics


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class SecondReadingClassifier(BlendedIntentClassifier):
    """Blends E5's reading into the ranking of a doubtful message; leaves confident ones alone."""

    @classmethod
    def required_components(cls) -> list[type]:
        # Reads the raw text. It belongs after the blend in config.yml, but cannot require it: in
        # Rasa's training graph every classifier trains on the featurizers' output, so the blend is
        # no ancestor of this component there, and the requirement would fail validation.
        return []

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        # weight 1/3: the three readers (DIET, USE, E5) get an equal say on a doubtful message.
        return {**BlendedIntentClassifier.get_default_config(), "weight": 1 / 3, "doubt_below": 0.5}

    def use(self, model: dict[str, Any]) -> None:
        super().use(model)
        e5_encoder.openmp()  # E5 loaded with the model (about 0.1 s), not during a customer's turn

    def vectors(self, messages: list[Message]) -> list[np.ndarray | None]:
        return list(e5_encoder.encode([message.get(TEXT) or "" for message in messages]))

    def training_vectors(self, examples: list[Message]) -> list[np.ndarray | None]:
        """As ``vectors``, read back from the last trainings where they had the same examples."""
        texts = [example.get(TEXT) or "" for example in examples]
        return list(e5_encoder.encode(texts, e5_encoder.training_cache()))

    def wants(self, message: Message) -> bool:
        return message.get(INTENT_RANKING_KEY)[0]["confidence"] < self.config["doubt_below"]

    def chosen(self, messages: list[Message]) -> list[Message]:
        doubtful = super().chosen(messages)
        if doubtful:  # how often E5's cost is paid: its share of customer messages is the traffic's
            metrics.NLU_SECOND_READINGS.inc(len(doubtful))
        return doubtful
