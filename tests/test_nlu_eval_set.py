"""The independent evaluation set stays independent: big enough, sourced, and never trained on."""
from __future__ import annotations

import re

import yaml

from bot.nlu_evaluation import NO_INTENT, REAL_SET, NluScores, annotator_agreement, load_real_set, write_rasa_nlu
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
    assert sum(item["intent"] != NO_INTENT for item in items) >= 200
    for item in items:
        assert item["source"] in document["sources"] and item["dialogue"] and item["text"].strip()
    for source in document["sources"].values():
        assert source["licence"] and source["repository"] and source["path"]
        assert not any(name in f"{source['repository']} {source['dataset']}".lower() for name in RESERVED)


def test_no_evaluation_utterance_is_in_the_training_data():
    trained = training_texts()
    overlap = {item["text"] for item in load_real_set(PROJECT_ROOT / REAL_SET) if normalised(item["text"]) in trained}
    assert not overlap


def test_every_label_is_an_intent_of_the_domain():
    domain = yaml.safe_load((PROJECT_ROOT / "domain" / "core.yml").read_text(encoding="utf-8"))
    items = load_real_set(PROJECT_ROOT / REAL_SET)
    assert {item["intent"] for item in items} <= set(domain["intents"]) | {NO_INTENT}
    # The second, blind annotation: one intent, or two equally defensible ones; "none": no intent fits.
    assert all(1 <= len(item["second"]) <= 2 and set(item["second"]) <= set(domain["intents"]) | {NO_INTENT}
               for item in items)


def test_every_disagreement_was_settled_by_the_adjudicator_and_only_those():
    """``first`` keeps the first annotator's label exactly where the two annotators differed."""
    domain = yaml.safe_load((PROJECT_ROOT / "domain" / "core.yml").read_text(encoding="utf-8"))
    for item in load_real_set(PROJECT_ROOT / REAL_SET):
        first = item.get("first", item["intent"])
        assert first in domain["intents"]
        assert ("first" in item) == (item["second"] != [first]), item["text"]


def test_accuracy_where_the_annotators_agree_counts_only_those_utterances():
    items = [{"text": "a", "intent": "complaint", "second": ["complaint"]},
             {"text": "b", "intent": "query_bill", "second": ["complaint", "query_bill"]},
             {"text": "c", "intent": "thanks", "second": ["affirm"]},
             {"text": "d", "intent": "deny", "second": ["deny"]}]
    agreement = annotator_agreement(items)
    assert (agreement.total, agreement.same, agreement.compatible) == (4, 2, 3)
    assert agreement.agreed_texts == {"a", "d"}
    scores = NluScores(accuracy=0.5, macro_f1=0.5, support=4,
                       labels={item["text"]: item["intent"] for item in items},
                       predictions={"a": "complaint", "b": "query_bill", "c": "deny", "d": "affirm"})
    assert scores.accuracy_on(agreement.agreed_texts) == 0.5


def test_the_first_labels_are_scored_from_the_same_predictions(tmp_path):
    items = [{"text": "a", "intent": "complaint", "second": ["complaint"]},
             {"text": "b", "intent": "complaint", "first": "query_bill", "second": ["complaint"]},
             {"text": "c", "intent": NO_INTENT, "first": "deny", "second": [NO_INTENT]}]
    agreement = annotator_agreement(items)
    assert (agreement.changed, agreement.first_labels) == (2, {"a": "complaint", "b": "query_bill"})
    scores = NluScores(accuracy=1.0, macro_f1=1.0, support=2, predictions={"a": "complaint", "b": "complaint"})
    assert scores.accuracy_against(agreement.first_labels) == 0.5
    # An utterance the adjudicator found fits no intent is not scored at all.
    written = yaml.safe_load(write_rasa_nlu(items, tmp_path / "nlu.yml").read_text(encoding="utf-8"))
    assert [block["intent"] for block in written["nlu"]] == ["complaint"]


def test_few_utterances_give_a_wide_interval():
    """The same one-in-five miss: an intent with five utterances gets a far wider interval than one
    with a hundred, all right on two still leaves room below, and the accuracy's interval holds it."""
    labels = ({f"a{i}": "complaint" for i in range(100)} | {f"b{i}": "query_ticket" for i in range(5)}
              | {"c0": "leave_message", "c1": "leave_message"})
    missed = {f"a{i}" for i in range(20)} | {"b0"}
    predictions = {text: ("deny" if text in missed else label) for text, label in labels.items()}
    scores = NluScores(accuracy=86 / 107, macro_f1=0.0, support=107, predictions=predictions, labels=labels)
    low, high = scores.accuracy_interval()
    assert low < 86 / 107 < high and high - low < 0.2
    intervals = scores.recall_intervals()
    width = {intent: high - low for intent, (low, high) in intervals.items()}
    assert width["query_ticket"] > 2 * width["complaint"]
    assert intervals["leave_message"][0] < 0.5 and intervals["leave_message"][1] == 1
