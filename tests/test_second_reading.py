"""The second reading: E5 weighs in on the messages the blend doubts, and only on those."""
from __future__ import annotations

import numpy as np
import pytest
from prometheus_client import REGISTRY
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot import settings as settings_module
from bot.nlu import e5_encoder
from bot.nlu.second_reading import SecondReadingClassifier
from bot.nlu.sentence_encoder import MAX_CHARS
# The blend's examples (the paraphrases below share almost no characters with them), check and fixture.
from tests.test_sentence_vectors import EXAMPLES, assert_a_ranking, storage  # noqa: F401,F811


@pytest.fixture(autouse=True)
def own_models_dir(tmp_path, monkeypatch):
    """Training here keeps E5's vectors in the test's own folder, not beside the project's models."""
    monkeypatch.setenv("KEFU_MODELS_DIR", str(tmp_path / "models"))
    settings_module.get_settings.cache_clear()
    yield tmp_path / "models"
    settings_module.get_settings.cache_clear()


def trained(storage) -> SecondReadingClassifier:
    resource = Resource("second-reading")
    context = ExecutionContext(GraphSchema({}), "test")
    messages = [Message({"text": text, "intent": intent}) for intent, texts in EXAMPLES.items() for text in texts]
    SecondReadingClassifier.create({}, storage, resource, context).train(TrainingData(messages))
    return SecondReadingClassifier.load({}, storage, resource, context)


def guessed(text: str, ranking: list[tuple[str, float]]) -> Message:
    entries = [{"name": name, "confidence": confidence} for name, confidence in ranking]
    return Message({"text": text, "intent": entries[0], "intent_ranking": entries})


def test_e5_puts_a_paraphrase_nearer_its_meaning_than_another_topic():
    bill, paraphrase, outage = e5_encoder.encode(["这个月话费多少钱", "我本月的电话费是几块", "宽带断网了"])
    assert float(bill @ paraphrase) > float(bill @ outage)


def test_blank_and_huge_texts_are_read_safely():
    blank, spaces = e5_encoder.encode(["", "   "])
    assert not blank.any() and not spaces.any()
    post = "宽带三天两头断网，打了好几次电话也没人来修，" * 5000  # 110 000 characters
    assert np.array_equal(e5_encoder.encode([post]), e5_encoder.encode([post[:MAX_CHARS]]))


def second_readings() -> float:
    return REGISTRY.get_sample_value("kefu_nlu_second_readings_total") or 0.0


def test_a_doubtful_ranking_is_turned_by_the_second_reading(storage):
    classifier = trained(storage)
    message = guessed("我本月的电话费是几块", [("fault_broadband", 0.40), ("query_bill", 0.35), ("goodbye", 0.25)])
    before = second_readings()
    classifier.process([message])
    assert message.get("intent")["name"] == "query_bill"
    assert_a_ranking(message)
    assert second_readings() == before + 1  # operators see how often E5's cost is paid


def test_a_confident_ranking_is_not_read_again(storage):
    classifier = trained(storage)
    # The same words, but a blend sure enough of its (wrong) guess: E5 is not asked, nothing moves.
    message = guessed("我本月的电话费是几块", [("fault_broadband", 0.6), ("query_bill", 0.4)])
    before = second_readings()
    classifier.process([message])
    assert message.get("intent") == {"name": "fault_broadband", "confidence": 0.6}
    assert second_readings() == before


def test_the_model_file_holds_e5_sized_numbers(storage):
    classifier = trained(storage)
    assert set(classifier.model) == {"intents", "coef", "intercept"}
    assert np.asarray(classifier.model["coef"]).shape == (len(EXAMPLES), e5_encoder.DIMENSIONS)
