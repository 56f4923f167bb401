"""Evaluate the NLU on the independent set of real utterances (tests/nlu_eval/).

The set is kept in its own format (each line with its source and dialogue id); Rasa's
``rasa test nlu`` wants Rasa NLU YAML, so it is converted into a temporary file. The same
summary (accuracy, macro-F1, per-intent scores, most confused pairs) serves `kefu test`
and `bench/nlu.py`, with the accuracy on the utterances whose two annotators agree: how often a
second person, labelling blind by the same written rules, chose another intent bounds what any
score on the whole set can mean.
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

REAL_SET = Path("tests") / "nlu_eval" / "real_utterances.yml"


def load_real_set(path: Path) -> list[dict]:
    """The labelled utterances: dicts with ``text`` and ``intent`` (and their source)."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))["utterances"]


@dataclass
class Agreement:
    """How the second annotator's labels (``second``: one intent, two, or none) meet the first."""

    total: int
    same: int  # the second annotator chose exactly the first label
    compatible: int  # ... or named it as one of two equally defensible intents
    agreed_texts: set[str]


def annotator_agreement(items: list[dict]) -> Agreement:
    seconds = [item.get("second") or [] for item in items]
    return Agreement(total=len(items),
                     same=sum(second == [item["intent"]] for item, second in zip(items, seconds)),
                     compatible=sum(item["intent"] in second for item, second in zip(items, seconds)),
                     agreed_texts={item["text"] for item, second in zip(items, seconds) if second == [item["intent"]]})


def write_rasa_nlu(items: list[dict], target: Path) -> Path:
    """Write the utterances as Rasa NLU training-data YAML (one block per intent)."""
    by_intent: dict[str, list[str]] = defaultdict(list)
    for item in items:
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
    wrong_texts: set[str] = field(default_factory=set)

    def accuracy_on(self, texts: set[str]) -> float:
        """Accuracy on the evaluated utterances among ``texts`` (e.g. those both annotators agree on)."""
        return 1 - len(self.wrong_texts & texts) / len(texts) if texts else float("nan")

    def worst_intents(self) -> list[tuple[str, dict]]:
        return sorted(self.per_intent.items(), key=lambda item: item[1]["f1-score"])


def scores_from_report(report: dict, errors: list[dict], top: int = 5) -> NluScores:
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
                     wrong_texts={error["text"] for error in errors})


def rasa_test_nlu(root: Path, model: Path, nlu_file: Path, out: Path) -> NluScores:
    """Run `rasa test nlu` of ``model`` on ``nlu_file`` and read its reports."""
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false"}
    subprocess.run([sys.executable, "-m", "rasa", "test", "nlu", "--model", str(model), "--nlu", str(nlu_file),
                    "--out", str(out)], cwd=root, env=env, check=True, capture_output=True)
    report = json.loads((out / "intent_report.json").read_text(encoding="utf-8"))
    errors_file = out / "intent_errors.json"
    errors = json.loads(errors_file.read_text(encoding="utf-8")) if errors_file.exists() else []
    return scores_from_report(report, errors)


def evaluate_real_set(root: Path, model: Path, out: Path) -> NluScores:
    """Scores of ``model`` on the real utterances."""
    out.mkdir(parents=True, exist_ok=True)
    nlu_file = write_rasa_nlu(load_real_set(root / REAL_SET), out / "real_utterances.nlu.yml")
    return rasa_test_nlu(root, model, nlu_file, out / "report")


def agreement_line(scores: NluScores, agreement: Agreement) -> str:
    """The second annotation next to the score: the labels' own reliability, and the score where it is high."""
    share = agreement.same / agreement.total if agreement.total else float("nan")
    return (f"second annotator (blind): same intent on {agreement.same} of {agreement.total} ({share:.3f}), "
            f"{agreement.compatible} with the first label among theirs; accuracy on the {len(agreement.agreed_texts)} "
            f"both labelled alike: {scores.accuracy_on(agreement.agreed_texts):.3f}")


def per_intent_table(scores: NluScores) -> str:
    """Per-intent accuracy (recall) and F1 on one evaluation, worst first, then the confused pairs."""
    lines = [f"accuracy {scores.accuracy:.3f}   macro-F1 {scores.macro_f1:.3f}   ({scores.support} utterances)",
             "intent                 accuracy  f1     support"]
    for name, row in scores.worst_intents():
        lines.append(f"{name:22} {row['recall']:.3f}     {row['f1-score']:.3f}  {row['support']}")
    if scores.confusions:
        lines.append("most confused (true intent -> predicted): count, examples")
        for truth, predicted, count, texts in scores.confusions:
            lines.append(f"{truth} -> {predicted}: {count}, e.g. {' | '.join(t[:40] for t in texts)}")
    return "\n".join(lines)
