"""The independent evaluation set stays independent: big enough, sourced, and never trained on."""
from __future__ import annotations

import re

import yaml

from bot.nlu.evaluation import REAL_SET, NluScores, annotator_agreement, load_real_set
from tests.conftest import PROJECT_ROOT

MARKUP = re.compile(r"\[([^\]]*)\]\([^)]*\)")
NOT_WORD = re.compile(r"[^\w]|_", re.UNICODE)
RESERVED = ("sereto", "mobilecs", "crosswoz", "smalltalk", "_rasa_chatbot", "starbot")


def normalised(text: str) -> str:
    return NOT_WORD.sub("", MARKUP.sub(r"\1", text)).lower()


def training_texts() -> set[str]:
    texts = set()
    for path in (PROJECT_ROOT / "nlu_data" / "nlu").glob("*.yml"):
        for block in yaml.safe_load(path.read_text(encoding="utf-8")).get("nlu", []):
            if "intent" in block:
                texts.update(normalised(line[2:]) for line in block["examples"].splitlines() if line.startswith("- "))
    return texts


def test_the_set_is_big_enough_and_every_line_is_sourced():
    document = yaml.safe_load((PROJECT_ROOT / REAL_SET).read_text(encoding="utf-8"))
    items = document["utterances"]
    assert len(items) >= 200
    for item in items:
        assert item["source"] in document["sources"] and item["dialogue"] and item["text"].strip()
    for source in document["sources"].values():
        assert source["licence"] and source["repository"] and source["path"]
        assert not any(name in f"{source['repository']} {source['dataset']}".lower() for name in RESERVED)


def test_no_evaluation_utterance_is_in_the_training_data():
    overlap = {item["text"] for item in load_real_set(PROJECT_ROOT / REAL_SET)
               if normalised(item["text"]) in training_texts()}
    assert not overlap


def test_every_label_is_an_intent_of_the_domain():
    domain = yaml.safe_load((PROJECT_ROOT / "domain" / "core.yml").read_text(encoding="utf-8"))
    items = load_real_set(PROJECT_ROOT / REAL_SET)
    assert {item["intent"] for item in items} <= set(domain["intents"])
    # The second, blind annotation: one intent, or two equally defensible ones; "none": no intent fits.
    assert all(1 <= len(item["second"]) <= 2 and set(item["second"]) <= set(domain["intents"]) | {"none"}
               for item in items)


def test_accuracy_where_the_annotators_agree_counts_only_those_utterances():
    items = [{"text": "a", "intent": "complaint", "second": ["complaint"]},
             {"text": "b", "intent": "query_bill", "second": ["complaint", "query_bill"]},
             {"text": "c", "intent": "thanks", "second": ["affirm"]},
             {"text": "d", "intent": "deny", "second": ["deny"]}]
    agreement = annotator_agreement(items)
    assert (agreement.total, agreement.same, agreement.compatible) == (4, 2, 3)
    assert agreement.agreed_texts == {"a", "d"}
    scores = NluScores(accuracy=0.5, macro_f1=0.5, support=4, wrong_texts={"c", "d"})
    assert scores.accuracy_on(agreement.agreed_texts) == 0.5
