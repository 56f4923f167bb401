"""Evaluate the NLU on the independent set of real utterances (tests/nlu_eval/).

The set is kept in its own format (each line with its source and dialogue id); Rasa's
``rasa test nlu`` wants Rasa NLU YAML, so it is converted into a temporary file. The same
summary (accuracy, macro-F1, per-intent scores, most confused pairs) serves `kefu test`
and `bench/nlu.py`, with the accuracy on the utterances whose two annotators agree: how often a
second person, labelling blind by the same written rules, chose another intent bounds what any
score on the whole set can mean. Where the two differed, a third, blind adjudicator chose the label
(``intent``; the first annotator's stays in ``first``), and the score on the first annotator's labels
is reported too: it is the figure earlier passes reported.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from scipy.stats import binomtest

from bot.yaml_load import safe_load

REAL_SET = Path("tests") / "nlu_eval" / "real_utterances.yml"
NO_INTENT = "none"  # the adjudicator found that no intent fits: the utterance is not scored


class EvaluationSetError(ValueError):
    """An evaluation file that cannot be scored as it stands; the message says where and why."""


def load_real_set(path: Path) -> list[dict]:
    """The labelled utterances: dicts with ``text`` and ``intent`` (and their source).

    Any file of this shape can be scored (`kefu test --real-set`), e.g. an operator's own transcribed
    calls; a file that is not one fails here, before any model is loaded, saying which item is wrong.
    """
    try:
        document = safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise EvaluationSetError(f"{path}: cannot be read ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise EvaluationSetError(f"{path}: is not valid YAML ({exc})") from exc
    items = document.get("utterances") if isinstance(document, dict) else None
    if not isinstance(items, list) or not items:
        raise EvaluationSetError(f"{path}: needs a non-empty list 'utterances' of {{text: ..., intent: ...}}")
    for number, item in enumerate(items, start=1):
        if not (isinstance(item, dict) and isinstance(item.get("text"), str) and item["text"].strip()
                and isinstance(item.get("intent"), str) and item["intent"].strip()):
            raise EvaluationSetError(f"{path}: utterance {number} needs a non-empty 'text' and an 'intent'")
        item["text"] = " ".join(item["text"].split())  # one line each in the Rasa file it is scored from
    return items


def check_against_project(items: list[dict], root: Path) -> list[str]:
    """The texts among ``items`` that the NLU trains on, which a score must not count.

    Raises when a label is not an intent of the domain: `rasa test nlu` would quietly count every
    such utterance as wrong, and a typo would read as a weak model.
    """
    from bot.editor.nlu_checks import example_key, read_examples
    from bot.editor.reference_checks import read_domain

    intents = read_domain(root / "domain", []).intents
    unknown = sorted({item["intent"] for item in items} - intents - {NO_INTENT})
    if unknown:
        raise EvaluationSetError(f"labels that are not intents of domain/: {', '.join(unknown)} "
                                 f"(write '{NO_INTENT}' for an utterance that fits no intent)")
    trained = {example.key for example in read_examples(root / "nlu_data")[0]}
    return [item["text"] for item in items if example_key(item["text"]) in trained]


def first_label(item: dict) -> str:
    """The first annotator's label: ``first`` where the adjudicator settled another, else ``intent``."""
    return item.get("first", item["intent"])


@dataclass
class Agreement:
    """How the second annotator's labels (``second``: one intent, two, or none) meet the first, and
    how many labels the adjudicator changed where they differed."""

    total: int
    same: int  # the second annotator chose exactly the first label
    compatible: int  # ... or named it as one of two equally defensible intents
    agreed_texts: set[str]
    changed: int = 0  # the adjudicator settled a label other than the first annotator's
    first_labels: dict[str, str] = field(default_factory=dict)  # text -> first label, scored utterances


def annotator_agreement(items: list[dict]) -> Agreement:
    seconds = [item.get("second") or [] for item in items]
    firsts = [first_label(item) for item in items]
    return Agreement(total=len(items),
                     same=sum(second == [first] for first, second in zip(firsts, seconds)),
                     compatible=sum(first in second for first, second in zip(firsts, seconds)),
                     agreed_texts={item["text"] for item, first, second in zip(items, firsts, seconds)
                                   if second == [first]},
                     changed=sum(item["intent"] != first for item, first in zip(items, firsts)),
                     first_labels={item["text"]: first for item, first in zip(items, firsts)
                                   if item["intent"] != NO_INTENT})


def write_rasa_nlu(items: list[dict], target: Path) -> Path:
    """Write the scored utterances as Rasa NLU training-data YAML (one block per intent)."""
    by_intent: dict[str, list[str]] = defaultdict(list)
    for item in items:
        if item["intent"] != NO_INTENT:
            by_intent[item["intent"]].append(item["text"])
    blocks = [{"intent": intent, "examples": "".join(f"- {text}\n" for text in texts)}
              for intent, texts in sorted(by_intent.items())]
    target.write_text(yaml.safe_dump({"version": "3.1", "nlu": blocks}, allow_unicode=True, sort_keys=False),
                      encoding="utf-8")
    return target


@dataclass
class NluScores:
    """What one `rasa test nlu` run says, reduced to what we report."""

    accuracy: float
    macro_f1: float
    support: int
    per_intent: dict[str, dict] = field(default_factory=dict)
    confusions: list[tuple[str, str, int, list[str]]] = field(default_factory=list)
    predictions: dict[str, str] = field(default_factory=dict)  # text -> predicted intent
    labels: dict[str, str] = field(default_factory=dict)  # text -> the set's intent

    def accuracy_on(self, texts: set[str]) -> float:
        """Accuracy on the evaluated utterances among ``texts`` (e.g. those both annotators agree on)."""
        return self.accuracy_against({text: label for text, label in self.labels.items() if text in texts})

    def accuracy_against(self, labels: dict[str, str]) -> float:
        """Accuracy if ``labels`` (text -> intent) were the set's labels, e.g. the first annotator's."""
        scored = [text for text in labels if text in self.predictions]
        hits = sum(self.predictions[text] == labels[text] for text in scored)
        return hits / len(scored) if scored else float("nan")

    def accuracy_interval(self, level: float = 0.95) -> tuple[float, float]:
        """Where the accuracy on callers like these lies (Wilson interval): ~200 utterances leave a
        few points either way, so a change smaller than that is not shown by one set."""
        return wilson(sum(self.predictions[text] == label for text, label in self.labels.items()),
                      len(self.labels), level)

    def recall_intervals(self, level: float = 0.95) -> dict[str, tuple[float, float]]:
        """Wilson interval of each intent's accuracy (recall): an intent with a few utterances gets a
        wide one, which says how little its F1 alone can show."""
        hits: Counter = Counter()
        support: Counter = Counter()
        for text, label in self.labels.items():
            support[label] += 1
            hits[label] += self.predictions[text] == label
        return {intent: wilson(hits[intent], count, level) for intent, count in support.items()}

    def worst_intents(self) -> list[tuple[str, dict]]:
        return sorted(self.per_intent.items(), key=lambda item: item[1]["f1-score"])


def wilson(hits: int, total: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a share: sound for small counts and for all-right or all-wrong."""
    interval = binomtest(hits, total).proportion_ci(level, method="wilson")
    return interval.low, interval.high


def scores_from_report(report: dict, errors: list[dict], top: int = 5, successes: list[dict] = ()) -> NluScores:
    rows = {name: row for name, row in report.items()
            if isinstance(row, dict) and "f1-score" in row and "avg" not in name and name != "accuracy"}
    pairs: Counter = Counter()
    examples: dict[tuple[str, str], list[str]] = defaultdict(list)
    for error in errors:
        pair = (error["intent"], error["intent_prediction"]["name"])
        pairs[pair] += 1
        examples[pair].append(error["text"])
    confusions = [(truth, predicted, count, examples[(truth, predicted)][:2])
                  for (truth, predicted), count in pairs.most_common(top)]
    support = sum(int(row["support"]) for name, row in rows.items() if row.get("support"))
    return NluScores(accuracy=float(report.get("accuracy", 0.0)), macro_f1=float(report["macro avg"]["f1-score"]),
                     support=support, per_intent=rows, confusions=confusions,
                     predictions={row["text"]: row["intent_prediction"]["name"] for row in [*successes, *errors]},
                     labels={row["text"]: row["intent"] for row in [*successes, *errors]})


def rasa_test_nlu(root: Path, model: Path, nlu_file: Path, out: Path) -> NluScores:
    """Run `rasa test nlu` of ``model`` on ``nlu_file`` and read its reports."""
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false"}
    subprocess.run([sys.executable, "-m", "bot.rasa_cli", "test", "nlu", "--model", str(model), "--nlu", str(nlu_file),
                    "--out", str(out), "--successes"], cwd=root, env=env, check=True, capture_output=True)

    def rows(name: str) -> list[dict]:
        path = out / name
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else []

    report = json.loads((out / "intent_report.json").read_text(encoding="utf-8"))
    return scores_from_report(report, rows("intent_errors.json"), successes=rows("intent_successes.json"))


def evaluate_real_set(root: Path, model: Path, out: Path, items: list[dict] | None = None) -> NluScores:
    """Scores of ``model`` on the real utterances (``items``; by default the project's own set)."""
    out.mkdir(parents=True, exist_ok=True)
    nlu_file = write_rasa_nlu(load_real_set(root / REAL_SET) if items is None else items,
                              out / "real_utterances.nlu.yml")
    return rasa_test_nlu(root, model, nlu_file, out / "report")


def agreement_line(scores: NluScores, agreement: Agreement) -> str:
    """The annotation next to the score: the labels' own reliability, and the score where it is high."""
    share = agreement.same / agreement.total if agreement.total else float("nan")
    return (f"second annotator (blind): same intent on {agreement.same} of {agreement.total} ({share:.3f}), "
            f"{agreement.compatible} with the first label among theirs; accuracy on the {len(agreement.agreed_texts)} "
            f"both labelled alike: {scores.accuracy_on(agreement.agreed_texts):.3f}\n"
            f"labels settled by a blind adjudicator where the two differed ({agreement.changed} changed from the "
            f"first annotator's); accuracy on the first annotator's labels, as earlier passes scored "
            f"({len(agreement.first_labels)} utterances): {scores.accuracy_against(agreement.first_labels):.3f}")


def per_intent_table(scores: NluScores) -> str:
    """Per-intent accuracy (recall) and F1 on one evaluation, worst first, then the confused pairs."""
    low, high = scores.accuracy_interval()
    intervals = scores.recall_intervals()
    lines = [f"accuracy {scores.accuracy:.3f} (95% interval {low:.3f}–{high:.3f})   macro-F1 {scores.macro_f1:.3f}   "
             f"({scores.support} utterances)",
             "intent                 accuracy  95% interval  f1     support"]
    for name, row in scores.worst_intents():
        low, high = intervals.get(name, (float("nan"), float("nan")))
        lines.append(f"{name:22} {row['recall']:.3f}     {low:.3f}–{high:.3f}   {row['f1-score']:.3f}  {row['support']}")
    if scores.confusions:
        lines.append("most confused (true intent -> predicted): count, examples")
        for truth, predicted, count, texts in scores.confusions:
            lines.append(f"{truth} -> {predicted}: {count}, e.g. {' | '.join(t[:40] for t in texts)}")
    return "\n".join(lines)
