"""Content-free messages are treated as not understood."""
from __future__ import annotations

import pytest
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.no_content import NoContentClassifier, has_content, is_gibberish


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


KNOWN = {"hello", "hi", "wifi", "ok", "iptv", "bye"}


@pytest.mark.parametrize("text", ["asdfgh", "qwe qwe qwe", "jjjjjj!!!", "ｘｙｚｚｙ", "lkjh poiu"])
def test_latin_keyboard_mashing_is_gibberish(text):
    assert is_gibberish(text, KNOWN)


@pytest.mark.parametrize("text", ["hello", "Hi!", "wifi 连不上", "WIFI", "asdf 宽带", "691", "ok ok", "iptv bu neng kan"])
def test_known_words_chinese_or_digits_are_not_gibberish(text):
    assert not is_gibberish(text, KNOWN)


def test_classifier_sends_gibberish_to_fallback_but_keeps_known_words():
    classifier = NoContentClassifier(known_words=KNOWN)
    mashing = Message({"text": "sdfsdf", "intent": {"name": "greet", "confidence": 0.97}})
    hello = Message({"text": "hello", "intent": {"name": "greet", "confidence": 0.97}})
    classifier.process([mashing, hello])
    assert mashing.get("intent")["name"] == "nlu_fallback"
    assert hello.get("intent")["name"] == "greet"
