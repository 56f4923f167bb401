"""`kefu test`: how well the bot understands and converses, in one report for editors.

NLU cross-validation (per-intent F1, the most confused pairs with examples),
the end-to-end conversations in tests/test_*.yml against the real servers, accuracy per
intent on the independent set of real customer utterances (tests/nlu_eval/), and the IVR flow scripts in tests/flows/ when the flow engine is present.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from bot.settings import Settings


def rasa_command(settings: Settings, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {**(env or settings.env), "RASA_TELEMETRY_ENABLED": "false"}
    return subprocess.run([sys.executable, "-m", "bot.rasa_cli", *args], cwd=settings.root, env=environment,
                          capture_output=True, text=True)


def nlu_cross_validation(settings: Settings, folds: int, out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    result = rasa_command(settings, "test", "nlu", "--nlu", "nlu_data/nlu", "--config", "config.yml",
                          "--cross-validation", "--folds", str(folds), "--out", str(out))
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-2000:])
    report = json.loads((out / "intent_report.json").read_text(encoding="utf-8"))
    errors_file = out / "intent_errors.json"
    errors = json.loads(errors_file.read_text(encoding="utf-8")) if errors_file.exists() else []
    return {"report": report, "errors": errors}


def summarise_nlu(report: dict, errors: list[dict], top: int = 5) -> str:
    """Per-intent F1, worst first, and the pairs of intents the model mixes up most, with examples."""
    from bot.nlu_evaluation import scores_from_report

    scores = scores_from_report(report, errors, top)
    lines = ["intent                 f1     precision recall support"]
    for name, row in scores.worst_intents():
        lines.append(f"{name:22} {row['f1-score']:.3f}  {row['precision']:.3f}     {row['recall']:.3f}  {row['support']}")
    lines.append(f"{'macro avg':22} {scores.macro_f1:.3f}")
    if scores.confusions:
        lines.append("")
        lines.append("most confused (true intent -> predicted): count, examples")
        for truth, predicted, count, texts in scores.confusions:
            lines.append(f"{truth} -> {predicted}: {count}, e.g. {' | '.join(texts)}")
    return "\n".join(lines)


def conversation_stories(root: Path, target: Path) -> Path:
    """Every tests/test_*.yml conversation file gathered in one folder for `rasa test core`."""
    target.mkdir(parents=True, exist_ok=True)
    for story_file in sorted((root / "tests").glob("test_*.yml")):
        shutil.copy(story_file, target / story_file.name)
    return target


def evaluation_set(settings: Settings, path: Path | None = None) -> tuple[list[dict], set[str]]:
    """The labelled real utterances to score (the project's set unless ``path`` names another file
    of its shape), and the texts among them the NLU trains on. Raises ``EvaluationSetError`` before
    anything is trained or loaded."""
    from bot.nlu_evaluation import NO_INTENT, REAL_SET, EvaluationSetError, check_against_project, load_real_set

    items = load_real_set(path or settings.root / REAL_SET)
    trained = set(check_against_project(items, settings.root))
    if all(item["text"] in trained or item["intent"] == NO_INTENT for item in items):
        raise EvaluationSetError(f"{path or REAL_SET}: no utterance left to score (each is in nlu_data/ "
                                 f"or labelled '{NO_INTENT}')")
    return items, trained


def real_utterances(settings: Settings, out: Path, items: list[dict], trained: set[str]) -> str:
    """Accuracy per intent of the served model on real customer utterances (``evaluation_set``)."""
    from bot.nlu_evaluation import agreement_line, annotator_agreement, evaluate_real_set, per_intent_table
    from bot.training import ensure_model

    model, _ = ensure_model(settings.root, settings.models_dir, quiet=True)
    scores = evaluate_real_set(settings.root, model, out, [item for item in items if item["text"] not in trained])
    lines = [per_intent_table(scores)]
    if trained:
        lines.append(f"not scored: {len(trained)} utterance(s) the NLU trains on, e.g. {sorted(trained)[0]}")
    if any("second" in item for item in items):  # a second annotator's labels: how far to trust the score
        lines.append(agreement_line(scores, annotator_agreement(items)))
    return "\n".join(lines)


def end_to_end(settings: Settings, out: Path) -> tuple[bool, str]:
    """Run the conversation tests against freshly started servers, each message read by the model's NLU (``--e2e``:
    without it Rasa takes the intent and entities as written, and a misread message passed)."""
    from bot.embedded_redis import free_port
    from bot.settings import from_environment
    from bot.stack import KefuStack
    from bot.training import ensure_model

    env = {**settings.env, "KEFU_DATA_DIR": str(out / "stack"), "KEFU_RASA_PORT": str(free_port()),
           "KEFU_ACTION_PORT": str(free_port())}
    env.pop("KEFU_DATABASE_URL", None)
    model, _ = ensure_model(settings.root, settings.models_dir)  # this checkout's data, never a published model
    with KefuStack(from_environment(env), model=model) as stack:
        result = rasa_command(
            settings, "test", "core", "--e2e", "--model", str(stack.model),
            "--stories", str(conversation_stories(settings.root, out / "stories")),
            "--endpoints", str(settings.root / "endpoints.yml"), "--fail-on-prediction-errors", "--out", str(out / "e2e"),
            env=stack.child_environment(),
        )
    failed = out / "e2e" / "failed_test_stories.yml"
    detail = failed.read_text(encoding="utf-8") if failed.exists() else result.stderr[-2000:]
    return result.returncode == 0, detail


def flow_scripts(settings: Settings) -> tuple[bool, str] | None:
    """IVR flow scripts, when the flow engine offers a runner; None when there is none."""
    try:
        from bot.ivr.flow_tests import run_flow_tests
    except ImportError:
        return None
    return run_flow_tests(settings)


KEPT_RUNS = 5  # the reports of the last runs of `kefu test`; older runs' folders (a whole test stack's data) go


def output_dir(settings: Settings) -> Path:
    """This run's folder for reports, after deleting all but the newest earlier runs' (they were kept for ever)."""
    runs = settings.data_dir / "kefu-test"
    earlier = sorted((d for d in runs.glob("*") if d.is_dir()), key=lambda d: d.stat().st_mtime, reverse=True)
    for old in earlier[KEPT_RUNS - 1:]:
        shutil.rmtree(old, ignore_errors=True)
    return runs / str(os.getpid())
