"""The sentence encoder and the blend that gives its reading of a message half the say."""
from __future__ import annotations

import numpy as np
import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.blended_intents import BlendedIntentClassifier
from bot.nlu.sentence_encoder import MAX_CHARS, SentenceEncoderFeaturizer, encode

# A few examples per intent, written for this test; the paraphrases below share almost no
# characters with them, which is where character n-grams have nothing to go on.
EXAMPLES = {
    "query_bill": ["这个月话费多少钱", "帮我查一下账单", "上个月扣了多少费用"],
    "fault_broadband": ["宽带断网了", "家里网络连不上", "网速特别慢上不了网"],
    "goodbye": ["再见", "拜拜", "先这样吧 回头聊"],
}


def featurizer() -> SentenceEncoderFeaturizer:
    return SentenceEncoderFeaturizer({"alias": "sentence"}, "sentence")


def training_data() -> TrainingData:
    messages = [Message({"text": text, "intent": intent}) for intent, texts in EXAMPLES.items() for text in texts]
    return featurizer().process_training_data(TrainingData(messages))


@pytest.fixture()
def storage(tmp_path):
    (tmp_path / "storage").mkdir()
    return LocalModelStorage(tmp_path / "storage")


def trained(storage) -> BlendedIntentClassifier:
    resource = Resource("blend")
    context = ExecutionContext(GraphSchema({}), "test")
    classifier = BlendedIntentClassifier.create({}, storage, resource, context)
    classifier.train(training_data())
    return BlendedIntentClassifier.load({}, storage, resource, context)


def diet_guess(text: str, ranking: list[tuple[str, float]]) -> Message:
    message = Message({"text": text})
    featurizer().process([message])
    entries = [{"name": name, "confidence": confidence} for name, confidence in ranking]
    message.set("intent", entries[0])
    message.set("intent_ranking", entries)
    return message


def assert_a_ranking(message: Message) -> None:
    """The blended ranking is still a ranking: best first, confidences adding up to one."""
    confidences = [entry["confidence"] for entry in message.get("intent_ranking")]
    assert confidences == sorted(confidences, reverse=True)
    assert sum(confidences) == pytest.approx(1.0, abs=1e-6)


def test_the_encoder_puts_a_paraphrase_nearer_its_meaning_than_another_topic():
    bill, paraphrase, outage = encode(["这个月话费多少钱", "我本月的电话费是几块", "宽带断网了"])
    assert float(bill @ paraphrase) > float(bill @ outage)


def test_a_huge_message_is_read_only_as_far_as_its_point():
    post = "宽带三天两头断网，打了好几次电话也没人来修，" * 5000  # 110 000 characters
    assert np.array_equal(encode([post]), encode([post[:MAX_CHARS]]))


def test_blank_text_gets_no_features_and_no_error():
    empty, spaces = Message({"text": ""}), Message({"text": "   "})
    featurizer().process([empty, spaces])
    assert empty.get_dense_features("text") == (None, None)
    assert not spaces.get_dense_features("text")[1].features.any()


def test_a_doubtful_guess_is_turned_by_what_the_sentence_means(storage):
    classifier = trained(storage)
    message = diet_guess("我本月的电话费是几块", [("fault_broadband", 0.55), ("query_bill", 0.45)])
    classifier.process([message])
    assert message.get("intent")["name"] == "query_bill"
    assert_a_ranking(message)


def test_a_confident_guess_that_agrees_stays(storage):
    classifier = trained(storage)
    message = diet_guess("拜拜啦 下次再聊", [("goodbye", 0.9), ("query_bill", 0.1)])
    classifier.process([message])
    assert message.get("intent")["name"] == "goodbye"
    assert message.get("intent")["confidence"] > 0.5


def test_messages_without_text_or_ranking_are_left_alone(storage):
    classifier = trained(storage)
    fallback = {"name": "nlu_fallback", "confidence": 1.0}
    no_ranking = Message({"text": "宽带断网了", "intent": fallback})
    featurizer().process([no_ranking])
    classifier.process([no_ranking])
    assert no_ranking.get("intent") == fallback


def test_an_untrained_model_passes_diet_through(storage):
    context = ExecutionContext(GraphSchema({}), "test")
    classifier = BlendedIntentClassifier.load({}, storage, Resource("never-trained"), context)
    message = diet_guess("我本月的电话费是几块", [("fault_broadband", 0.55), ("query_bill", 0.45)])
    classifier.process([message])
    assert message.get("intent")["name"] == "fault_broadband"


def test_the_model_file_holds_numbers_not_code(storage):
    classifier = trained(storage)
    assert set(classifier.model) == {"intents", "coef", "intercept"}
    assert np.asarray(classifier.model["coef"]).shape == (len(EXAMPLES), 512)
