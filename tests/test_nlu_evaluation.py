"""NLU quality on a held-out split of the training data (macro-F1 must stay >= 0.85).

The split is fixed (seeded); the NLU-only model trained on it is cached by
content hash like the main model, so re-runs only evaluate.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bot.training import NLU_INPUTS, content_hash
from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.slow
# Was 0.90 on the hand-written data (measured 0.94). The data now also holds the hard cases real
# customers produce (complaints mixed with faults, short replies after a fix, phone speech): the
# same split measured 0.88 with both the old and the new featurizer, 0.868 after the second pass of
# real-caller data, 0.861 with the one-layer DIET, 0.888 with 40 epochs and the in-thread replies
# (bench/RESULTS.md, issue 16); a re-drawn split moves it by up to ~0.03.
MACRO_F1_FLOOR = 0.85


def rasa(*args: str, cwd) -> None:
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false"}
    subprocess.run([sys.executable, "-m", "rasa", *args], cwd=cwd, env=env, check=True, capture_output=True)


@pytest.fixture(scope="module")
def intent_report(tmp_path_factory):
    split = tmp_path_factory.mktemp("split")
    rasa("data", "split", "nlu", "--nlu", "nlu_data/nlu", "--training-fraction", "0.8",
         "--random-seed", "42", "--out", str(split), cwd=PROJECT_ROOT)
    train_file = next(split.glob("training_data*"))
    test_file = next(split.glob("test_data*"))
    models = PROJECT_ROOT / "models"
    name = f"nlu-heldout-{content_hash(PROJECT_ROOT, NLU_INPUTS)}"
    model = models / f"{name}.tar.gz"
    if not model.exists():
        rasa("train", "nlu", "--nlu", str(train_file), "--config", "config.yml", "--out", str(models),
             "--fixed-model-name", name, cwd=PROJECT_ROOT)
    results = tmp_path_factory.mktemp("results")
    rasa("test", "nlu", "--model", str(model), "--nlu", str(test_file), "--out", str(results), cwd=PROJECT_ROOT)
    return json.loads((results / "intent_report.json").read_text(encoding="utf-8"))


def test_held_out_macro_f1(intent_report):
    intents = {k: v for k, v in intent_report.items() if isinstance(v, dict) and "support" in v and "avg" not in k}
    print("\nintent                 precision  recall  f1     support")
    for name, row in sorted(intents.items()):
        print(f"{name:22} {row['precision']:.3f}      {row['recall']:.3f}   {row['f1-score']:.3f}  {row['support']}")
    macro = intent_report["macro avg"]["f1-score"]
    print(f"{'macro avg':22} {'':10} {'':7} {macro:.3f}")
    assert macro >= MACRO_F1_FLOOR
