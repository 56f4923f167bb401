"""The independent evaluation set stays independent: big enough, sourced, and never trained on."""
from __future__ import annotations

import pytest
import yaml

from bot.cli import main as kefu
from bot.editor import quality
from bot.nlu_evaluation import (NO_INTENT, REAL_SET, EvaluationSetError, NluScores, annotator_agreement,
                                check_against_project, load_real_set, write_rasa_nlu)
from tests.conftest import PROJECT_ROOT

RESERVED = ("sereto", "mobilecs", "crosswoz", "smalltalk", "_rasa_chatbot", "starbot")


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
    assert check_against_project(load_real_set(PROJECT_ROOT / REAL_SET), PROJECT_ROOT) == []


def test_an_utterance_the_nlu_trains_on_is_named_so_it_is_not_scored():
    items = [{"text": "我家宽带又断了，帮我看看吧", "intent": "fault_broadband"},
             {"text": "电视  没信号!", "intent": "fault_tv"}]  # a training example, spaced and punctuated anew
    trained = check_against_project(items, PROJECT_ROOT)
    assert trained == ["电视  没信号!"]


@pytest.mark.parametrize("content, reason", [
    ("utterances: []", "needs a non-empty list 'utterances'"),
    ("- text: 你好\n  intent: greet", "needs a non-empty list 'utterances'"),
    ("utterances:\n  - {text: 你好, intent: greet}\n  - {text: '', intent: greet}", "utterance 2 needs a non-empty 'text'"),
    ("utterances:\n  - {text: 宽带坏了}", "utterance 1 needs a non-empty 'text' and an 'intent'"),
    ("utterances: [text: 'a", "is not valid YAML"),
])
def test_a_malformed_evaluation_file_says_what_is_wrong(tmp_path, content, reason):
    path = tmp_path / "mine.yml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(EvaluationSetError, match=reason):
        load_real_set(path)


def test_a_label_that_is_no_intent_fails_instead_of_counting_as_a_miss():
    items = [{"text": "宽带坏了三天了", "intent": "fault_broadbnd"}, {"text": "天气怎么样", "intent": NO_INTENT}]
    with pytest.raises(EvaluationSetError, match="fault_broadbnd"):
        check_against_project(items, PROJECT_ROOT)


def test_kefu_test_rejects_a_bad_evaluation_file_before_training_anything(tmp_path, capsys, monkeypatch):
    path = tmp_path / "calls.yml"
    path.write_text("utterances:\n  - {text: 我要投诉, intent: complain}\n", encoding="utf-8")
    def cross_validation(*args):
        raise AssertionError("the cross-validation trained before the file was checked")

    monkeypatch.setattr(quality, "nlu_cross_validation", cross_validation)
    monkeypatch.setenv("KEFU_DATA_DIR", str(tmp_path / "var"))
    assert kefu(["test", "--real-set", str(path)]) == 2
    assert "complain" in capsys.readouterr().err


@pytest.mark.parametrize("folds", ["0", "1"])
def test_kefu_test_with_fewer_than_two_folds_says_so_before_training_anything(tmp_path, capsys, monkeypatch, folds):
    """`kefu test --folds 1` (or 0) ended in a traceback of Rasa's traceback: a cross-validation needs two."""
    def cross_validation(*args):
        raise AssertionError("the cross-validation ran with fewer than two folds")

    monkeypatch.setattr(quality, "nlu_cross_validation", cross_validation)
    monkeypatch.setenv("KEFU_DATA_DIR", str(tmp_path / "var"))
    with pytest.raises(SystemExit) as refused:
        kefu(["test", "--folds", folds, "--skip-real", "--skip-e2e", "--skip-flows"])
    assert refused.value.code == 2
    assert f"--folds: {folds!r} is not a whole number of at least 2" in capsys.readouterr().err


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
