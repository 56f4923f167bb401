"""Content-free messages are treated as not understood."""
from __future__ import annotations

import pytest
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.no_content import NoContentClassifier, has_content


@pytest.mark.parametrize("text", ["", "   ", "😀😀😀", "？？！！", "……", "\n\t"])
def test_no_content(text):
    assert not has_content(text)


@pytest.mark.parametrize("text", ["网", "wifi", "691", "ｗｉｆｉ", "😀 没信号"])
def test_content(text):
    assert has_content(text)


def test_classifier_overrides_only_content_free_messages():
    classifier = NoContentClassifier()
    emoji = Message({"text": "👍👍", "intent": {"name": "affirm", "confidence": 0.99}})
    words = Message({"text": "好的", "intent": {"name": "affirm", "confidence": 0.99}})
    classifier.process([emoji, words])
    assert emoji.get("intent")["name"] == "nlu_fallback"
    assert words.get("intent")["name"] == "affirm"
