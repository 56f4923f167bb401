"""NLU quality: the held-out split of our own examples next to real customers' words.

    python bench/nlu.py

Scores an NLU-only model trained on 80% of nlu_data/nlu (seed 42) on the other 20%, and the
assistant's own model (the one `kefu run` serves) on the independent set in tests/nlu_eval/.
Both are cached in models/ by a hash of what shapes them, so a second run only evaluates. Prints accuracy and macro-F1
of both side by side, per-intent F1 on the real set and the most confused intent pairs, and the real
set's accuracy on the utterances a second, blind annotator labelled alike (tests/nlu_eval/LABELLING.md)
and on the first annotator's labels (before a blind adjudicator settled the others),
then what a parse costs (CPU and wall time per message).

    python bench/nlu.py --seeds 4

also trains NLU-only models on all of nlu_data/nlu with DIET seeds 1..N and prints the real set's accuracy
for each: with about 200 real utterances one seed moves accuracy by a few points, so one figure alone
can flatter or wrong a change.
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.nlu_evaluation import (REAL_SET, Agreement, NluScores, annotator_agreement, evaluate_real_set,  # noqa: E402
                                 load_real_set, rasa_test_nlu)
from bot.training import NLU_INPUTS, content_hash, ensure_model  # noqa: E402


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
    digest = content_hash(ROOT, NLU_INPUTS)
    model = nlu_model(f"nlu-heldout-{digest}", next(split.glob("training_data*")), config)
    return rasa_test_nlu(ROOT, model, next(split.glob("test_data*")), work / "heldout")


def parse_cost(model: Path, texts: list[str], rounds: int = 3) -> tuple[float, float]:
    """CPU and wall milliseconds per message of ``model``, parsing ``texts`` one by one.

    CPU above wall means threads busy beside the parse (idle BLAS threads spinning once doubled it;
    bench/RESULTS.md, "The sentence vectors' real cost"): a ratio that does not drift with the machine.
    """
    import asyncio
    import logging
    import time

    import structlog
    from rasa.core.agent import Agent

    from bot import fast_model_load

    fast_model_load.install()  # as the Rasa server loads it
    agent = Agent.load(str(model))
    # Rasa logs every parse at debug level through structlog; the table is what this prints.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.INFO))

    async def parse_all() -> None:
        for text in texts:
            await agent.parse_message(text)

    asyncio.run(parse_all())  # warm-up: the first parses build TensorFlow's functions
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(rounds):
        asyncio.run(parse_all())
    count = rounds * len(texts)
    return 1000 * (time.process_time() - cpu) / count, 1000 * (time.perf_counter() - wall) / count


def seed_config(work: Path, seed: int) -> Path:
    """config.yml with DIET's (and every other) ``random_seed`` set to ``seed``."""
    text = re.sub(r"random_seed: \d+", f"random_seed: {seed}", (ROOT / "config.yml").read_text(encoding="utf-8"))
    path = work / f"config-seed{seed}.yml"
    path.write_text(text, encoding="utf-8")
    return path


def seed_spread(work: Path, seeds: int) -> list[tuple[int, NluScores]]:
    """The real set's scores of NLU-only models that differ only in their random seed."""
    digest = content_hash(ROOT, NLU_INPUTS)
    results = []
    for seed in range(1, seeds + 1):
        model = nlu_model(f"nlu-seed{seed}-{digest}", ROOT / "nlu_data" / "nlu", seed_config(work, seed))
        results.append((seed, evaluate_real_set(ROOT, model, work / f"seed{seed}")))
    return results


def spread_table(results: list[tuple[int, NluScores]], agreement: Agreement) -> str:
    agreed = agreement.agreed_texts
    lines = ["", "real utterances by DIET seed (NLU-only models on all of nlu_data/nlu):", "",
             f"| seed | accuracy | macro-F1 | accuracy, annotators agree ({len(agreed)}) | accuracy, first labels |",
             "|---|---|---|---|---|"]
    lines += [f"| {seed} | {scores.accuracy:.3f} | {scores.macro_f1:.3f} | {scores.accuracy_on(agreed):.3f} | "
              f"{scores.accuracy_against(agreement.first_labels):.3f} |" for seed, scores in results]
    accuracies = [scores.accuracy for _, scores in results]
    lines.append(f"| mean (min–max) | {statistics.mean(accuracies):.3f} ({min(accuracies):.3f}–{max(accuracies):.3f}) | "
                 f"{statistics.mean(scores.macro_f1 for _, scores in results):.3f} | "
                 f"{statistics.mean(scores.accuracy_on(agreed) for _, scores in results):.3f} | "
                 f"{statistics.mean(scores.accuracy_against(agreement.first_labels) for _, scores in results):.3f} |")
    return "\n".join(lines)


def report(heldout: NluScores, real: NluScores, agreement: Agreement) -> str:
    agreed = agreement.agreed_texts
    lines = ["| measure | held-out split | real utterances |", "|---|---|---|",
             f"| utterances | {heldout.support} | {real.support} |",
             f"| accuracy | {heldout.accuracy:.3f} | {real.accuracy:.3f} |",
             "| accuracy, 95% interval (Wilson) | {:.3f}–{:.3f} | {:.3f}–{:.3f} |".format(
                 *heldout.accuracy_interval(), *real.accuracy_interval()),
             f"| macro-F1 | {heldout.macro_f1:.3f} | {real.macro_f1:.3f} |",
             f"| accuracy where a second, blind annotator chose the same intent ({len(agreed)}) | | "
             f"{real.accuracy_on(agreed):.3f} |",
             f"| the two annotators' labels: same / compatible (first among the second's two) | | "
             f"{agreement.same / agreement.total:.3f} / {agreement.compatible / agreement.total:.3f} |",
             f"| accuracy on the first annotator's labels, as earlier passes scored ({len(agreement.first_labels)}; "
             f"{agreement.changed} differ from the adjudicated) | | {real.accuracy_against(agreement.first_labels):.3f} |",
             "", "per intent on the real utterances (worst first):", "",
             "| intent | F1 | precision | recall | recall, 95% interval (Wilson) | support |", "|---|---|---|---|---|---|"]
    intervals = real.recall_intervals()
    for name, row in real.worst_intents():
        low, high = intervals.get(name, (float("nan"), float("nan")))
        lines.append(f"| {name} | {row['f1-score']:.3f} | {row['precision']:.3f} | {row['recall']:.3f} | "
                     f"{low:.3f}–{high:.3f} | {row['support']} |")
    for title, scores in (("held-out split", heldout), ("real utterances", real)):
        lines += ["", f"most confused pairs, {title} (true -> predicted: count, e.g.):"]
        lines += [f"- {truth} -> {predicted}: {count}, e.g. {' | '.join(t[:30] for t in texts)}"
                  for truth, predicted, count, texts in scores.confusions] or ["- none"]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=0, help="also score NLU-only models trained with seeds 1..N")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kefu-nlu-bench-") as tmp:
        work = Path(tmp)
        items = load_real_set(ROOT / REAL_SET)
        agreement = annotator_agreement(items)
        served, _ = ensure_model(ROOT, ROOT / "models", quiet=True)
        print(report(held_out(work), evaluate_real_set(ROOT, served, work / "real"), agreement))
        cpu, wall = parse_cost(served, [item["text"] for item in items])
        print(f"\nparse cost of the served model, the real utterances one by one: {cpu:.1f} ms CPU, "
              f"{wall:.1f} ms wall per message (CPU/wall {cpu / wall:.2f}; above 1: threads busy beside it)")
        if args.seeds > 0:
            print(spread_table(seed_spread(work, args.seeds), agreement))
    return 0


if __name__ == "__main__":
    sys.exit(main())
