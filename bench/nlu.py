"""NLU quality: the held-out split of our own examples next to real customers' words.

    python bench/nlu.py

Scores an NLU-only model trained on 80% of nlu_data/nlu (seed 42) on the other 20%, and the
assistant's own model (the one `kefu run` serves) on the independent set in tests/nlu_eval/.
Both are cached in models/ by a hash of what shapes them, so a second run only evaluates. Prints accuracy and macro-F1
of both side by side, per-intent F1 on the real set and the most confused intent pairs.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.nlu.evaluation import NluScores, evaluate_real_set, rasa_test_nlu  # noqa: E402
from bot.training import content_hash, ensure_model  # noqa: E402


def rasa(*args: str) -> None:
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false"}
    subprocess.run([sys.executable, "-m", "rasa", *args], cwd=ROOT, env=env, check=True, capture_output=True)


def nlu_model(name: str, nlu: Path, config: Path) -> Path:
    """An NLU-only model trained on ``nlu`` with ``config``, reused when it exists."""
    models = ROOT / "models"
    model = models / f"{name}.tar.gz"
    if not model.exists():
        rasa("train", "nlu", "--nlu", str(nlu), "--config", str(config), "--out", str(models),
             "--fixed-model-name", name)
    return model


def held_out(work: Path) -> NluScores:
    config = ROOT / "config.yml"
    split = work / "split"
    rasa("data", "split", "nlu", "--nlu", "nlu_data/nlu", "--training-fraction", "0.8", "--random-seed", "42",
         "--out", str(split))
    digest = content_hash(ROOT, ("config.yml", "nlu_data"))
    model = nlu_model(f"nlu-heldout-{digest}", next(split.glob("training_data*")), config)
    return rasa_test_nlu(ROOT, model, next(split.glob("test_data*")), work / "heldout")


def real_set(work: Path) -> NluScores:
    model, _ = ensure_model(ROOT, ROOT / "models", quiet=True)
    return evaluate_real_set(ROOT, model, work / "real")


def report(heldout: NluScores, real: NluScores) -> str:
    lines = ["| measure | held-out split | real utterances |", "|---|---|---|",
             f"| utterances | {heldout.support} | {real.support} |",
             f"| accuracy | {heldout.accuracy:.3f} | {real.accuracy:.3f} |",
             f"| macro-F1 | {heldout.macro_f1:.3f} | {real.macro_f1:.3f} |",
             "", "per intent on the real utterances (worst first):", "",
             "| intent | F1 | precision | recall | support |", "|---|---|---|---|---|"]
    for name, row in real.worst_intents():
        lines.append(f"| {name} | {row['f1-score']:.3f} | {row['precision']:.3f} | {row['recall']:.3f} | {row['support']} |")
    for title, scores in (("held-out split", heldout), ("real utterances", real)):
        lines += ["", f"most confused pairs, {title} (true -> predicted: count, e.g.):"]
        lines += [f"- {truth} -> {predicted}: {count}, e.g. {' | '.join(t[:30] for t in texts)}"
                  for truth, predicted, count, texts in scores.confusions] or ["- none"]
    return "\n".join(lines)


def main() -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    with tempfile.TemporaryDirectory(prefix="kefu-nlu-bench-") as tmp:
        work = Path(tmp)
        print(report(held_out(work), real_set(work)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
