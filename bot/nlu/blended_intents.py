"""A second opinion on the intent, from what the sentence means rather than which characters it has.

DIET fits our examples with character n-grams within a few epochs; given the sentence vectors as
well, it left them unused (measured), so a real customer who says it differently still got a guess
that depended on DIET's random seed. This component fits a logistic regression on the sentence
encoder's vectors only and averages its intent probabilities with DIET's, half and half. It runs
after DIET and before the FallbackClassifier, so a doubtful blend still leads to the clarifying
question. Measured in bench/RESULTS.md ("Sentence vectors").
"""
from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from scipy.special import softmax
from sklearn.linear_model import LogisticRegression

from bot.nlu.code_fingerprint import CodeFingerprinted
from bot.nlu.sentence_encoder import SentenceEncoderFeaturizer

logger = logging.getLogger(__name__)

MODEL_FILE = "sentence_intents.json"


def sentence_vector(message: Message) -> np.ndarray | None:
    _, sentence = message.get_dense_features(TEXT)
    return None if sentence is None else np.asarray(sentence.features).reshape(-1)


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class BlendedIntentClassifier(CodeFingerprinted, GraphComponent):
    """Averages DIET's intent ranking with a sentence-vector classifier's."""

    @classmethod
    def required_components(cls) -> list[type]:
        return [SentenceEncoderFeaturizer]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        # weight: the sentence vectors' share of the blend; C: the regression's inverse
        # regularisation; ranking_length: as DIET's, how many intents the ranking keeps.
        return {"weight": 0.5, "C": 10.0, "ranking_length": 10}

    def __init__(self, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
                 model: dict[str, Any] | None = None) -> None:
        self.config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.model = None
        if model:
            self.use(model)

    def use(self, model: dict[str, Any]) -> None:
        """Keep the stored numbers, and arrays of them for scoring (converting per message cost 0.3 ms)."""
        self.model = model
        self._coef = np.asarray(model["coef"], dtype=np.float32)
        self._intercept = np.asarray(model["intercept"], dtype=np.float32)

    @classmethod
    def create(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "BlendedIntentClassifier":
        return cls(config, model_storage, resource)

    def vectors(self, messages: list[Message]) -> list[np.ndarray | None]:
        """What the regression reads for each message: here the sentence featurizer's vector."""
        return [sentence_vector(message) for message in messages]

    def training_vectors(self, examples: list[Message]) -> list[np.ndarray | None]:
        """What the regression learns from: the same as it reads at serving time."""
        return self.vectors(examples)

    def wants(self, message: Message) -> bool:
        """Whether to weigh in on this message's ranking: always, here."""
        return True

    def chosen(self, messages: list[Message]) -> list[Message]:
        """The messages to weigh in on: those with a text and a ranking that this component wants."""
        return [message for message in messages
                if message.get(TEXT) and message.get(INTENT_RANKING_KEY) and self.wants(message)]

    def train(self, training_data: TrainingData) -> Resource:
        examples = training_data.intent_examples
        rows, labels = [], []
        for example, vector in zip(examples, self.training_vectors(examples)):
            if vector is not None:
                rows.append(vector)
                labels.append(example.get(INTENT))
        if len(set(labels)) < 2:
            logger.warning("nlu.blended.untrained reason=fewer_than_two_intents")
            return self._resource
        regression = LogisticRegression(C=self.config["C"], max_iter=3000).fit(np.vstack(rows), labels)
        # Plain numbers, not a pickle: a model file should never be able to run code on load.
        self.use({"intents": [str(name) for name in regression.classes_],
                  "coef": regression.coef_.tolist(), "intercept": regression.intercept_.tolist()})
        with self._model_storage.write_to(self._resource) as directory:
            (directory / MODEL_FILE).write_text(json.dumps(self.model), encoding="utf-8")
        return self._resource

    @classmethod
    def load(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "BlendedIntentClassifier":
        try:
            with model_storage.read_from(resource) as directory:
                model = json.loads((directory / MODEL_FILE).read_text(encoding="utf-8"))
        except (ValueError, FileNotFoundError):
            logger.warning("nlu.blended.model_missing resource=%s", resource.name)
            model = None
        return cls(config, model_storage, resource, model)

    def probabilities(self, vector: np.ndarray) -> dict[str, float]:
        # Multiplied and summed by NumPy itself, not as a BLAS matrix product: OpenBLAS hands even this
        # small product to a second thread that then spins, which doubled the CPU a message cost.
        scores = (self._coef * vector).sum(axis=1) + self._intercept
        return dict(zip(self.model["intents"], softmax(scores).tolist()))

    def process(self, messages: list[Message]) -> list[Message]:
        if not self.model:
            return messages
        weight = self.config["weight"]
        chosen = self.chosen(messages)
        for message, vector in zip(chosen, self.vectors(chosen)):
            ranking = message.get(INTENT_RANKING_KEY)
            if vector is None or not vector.any():
                continue
            # The ranking so far: DIET's here, the blend's for a second reading.
            total = sum(entry["confidence"] for entry in ranking) or 1.0
            earlier = {entry["name"]: entry["confidence"] / total for entry in ranking}
            sentence = self.probabilities(vector)
            blended = {name: (1 - weight) * earlier.get(name, 0.0) + weight * sentence.get(name, 0.0)
                       for name in earlier.keys() | sentence.keys()}
            ordered = sorted(blended.items(), key=lambda item: -item[1])[: self.config["ranking_length"]]
            new_ranking = [{"name": name, "confidence": confidence} for name, confidence in ordered]
            message.set(INTENT, new_ranking[0], add_to_output=True)
            message.set(INTENT_RANKING_KEY, new_ranking, add_to_output=True)
        return messages
