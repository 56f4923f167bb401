"""`kefu test`'s NLU summary: worst intents first, confused pairs with the customer's words."""
from __future__ import annotations

from bot.editor.quality import summarise_nlu

REPORT = {
    "greet": {"precision": 0.9, "recall": 0.8, "f1-score": 0.85, "support": 10},
    "fault_tv": {"precision": 1.0, "recall": 1.0, "f1-score": 1.0, "support": 12},
    "deny": {"precision": 0.7, "recall": 0.9, "f1-score": 0.79, "support": 9},
    "accuracy": 0.9,
    "macro avg": {"precision": 0.87, "recall": 0.9, "f1-score": 0.88, "support": 31},
    "weighted avg": {"precision": 0.9, "recall": 0.9, "f1-score": 0.9, "support": 31},
}
ERRORS = [
    {"text": "不用了谢谢", "intent": "deny", "intent_prediction": {"name": "thanks", "confidence": 0.6}},
    {"text": "算了吧", "intent": "deny", "intent_prediction": {"name": "thanks", "confidence": 0.5}},
    {"text": "喂喂", "intent": "greet", "intent_prediction": {"name": "affirm", "confidence": 0.7}},
]


def test_summary_orders_by_f1_and_names_confusions_with_examples():
    lines = summarise_nlu(REPORT, ERRORS).splitlines()
    intents = [line.split()[0] for line in lines[1:4]]
    assert intents == ["deny", "greet", "fault_tv"]
    assert "macro avg              0.880" in lines
    assert "deny -> thanks: 2, e.g. 不用了谢谢 | 算了吧" in lines
    assert "greet -> affirm: 1, e.g. 喂喂" in lines
    assert not any(line.startswith(("accuracy", "weighted avg")) for line in lines)


def test_kefu_test_keeps_the_last_runs_reports_not_every_runs_data(kefu_env):
    """Each run's folder holds a whole test stack's data: they were kept for ever, one per run."""
    import os

    from bot.editor.quality import KEPT_RUNS, output_dir

    runs = kefu_env.data_dir / "kefu-test"
    for age in range(8):
        old = runs / f"run-{age}"
        (old / "stack").mkdir(parents=True)
        (old / "stack" / "tracker.db").write_bytes(b"x" * 1024)
        os.utime(old, (1_700_000_000 - age, 1_700_000_000 - age))
    this_run = output_dir(kefu_env)
    this_run.mkdir()
    kept = sorted(d.name for d in runs.iterdir())
    assert kept == sorted([this_run.name] + [f"run-{age}" for age in range(KEPT_RUNS - 1)])
