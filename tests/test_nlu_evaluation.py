"""NLU quality on a held-out split of the training data (macro-F1 must stay >= 0.85).

The split is fixed (seeded); the NLU-only model trained on it is cached by
content hash like the main model, so re-runs only evaluate. It trains beside the served model from
the session's start (tests/trainings.py).
"""
from __future__ import annotations

import json

import pytest

from tests import trainings

pytestmark = pytest.mark.slow
# Was 0.90 on the hand-written data (measured 0.94). The data now also holds the hard cases real
# customers produce (complaints mixed with faults, short replies after a fix, phone speech): the
# same split measured 0.88 with both the old and the new featurizer, 0.868 after the second pass of
# real-caller data, 0.861 with the one-layer DIET, 0.888 with 40 epochs and the in-thread replies
# (bench/RESULTS.md, issue 16); a re-drawn split moves it by up to ~0.03.
MACRO_F1_FLOOR = 0.85


@pytest.fixture(scope="module")
def intent_report(tmp_path_factory):
    held_out = trainings.started("intent_report")
    results = tmp_path_factory.mktemp("results")
    trainings.rasa("test", "nlu", "--model", str(held_out.training.result()), "--nlu", str(held_out.test_file),
                   "--out", str(results))
    return json.loads((results / "intent_report.json").read_text(encoding="utf-8"))


def test_held_out_macro_f1(intent_report):
    intents = {k: v for k, v in intent_report.items() if isinstance(v, dict) and "support" in v and "avg" not in k}
    print("\nintent                 precision  recall  f1     support")
    for name, row in sorted(intents.items()):
        print(f"{name:22} {row['precision']:.3f}      {row['recall']:.3f}   {row['f1-score']:.3f}  {row['support']}")
    macro = intent_report["macro avg"]["f1-score"]
    print(f"{'macro avg':22} {'':10} {'':7} {macro:.3f}")
    assert macro >= MACRO_F1_FLOOR
