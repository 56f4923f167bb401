"""The suite's two trainings, started side by side as soon as the tests are collected.

A training keeps about one core busy (227 CPU s in 217 s of wall time, bench/RESULTS.md "Training
time") and CI's machine has two. Trained one after the other, the served model and the held-out
split's model cost the suite two trainings' time; started together at collection they overlap (the
two files that need them: 306 s instead of 426 s, bench/RESULTS.md "Suite time"). A model already
trained for the same files (named by content hash) is not trained again. A fixture that
asks for a training nobody started (requested dynamically) starts it then.

``make test`` runs two test processes (pytest-xdist), and both start the same trainings: a lock
file beside each model, held by the training process itself for as long as it runs, lets the first
train and the other wait for its model (training it itself only if that one failed).
"""
from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bot.launcher import reason_lines
from bot.training import NLU_INPUTS, content_hash, model_path, training_command
from tests.conftest import PROJECT_ROOT

MODELS = PROJECT_ROOT / "models"
# Rasa's training cache, named by an absolute path: Rasa records where each cached result lies as the
# cache folder's path joined to it, and looks it up from the working directory of the training that
# reads it. With the default (``.rasa/cache``, relative) every entry of the served model's training
# was missed by the editor's publish test, which trains in a copy of the project (another working
# directory) with this folder: it trained every component again, TED and the rule policies included.
RASA_CACHE = PROJECT_ROOT / ".rasa" / "cache"


@dataclass
class Training:
    """A ``rasa train`` running in the background, its output in a log beside the model."""

    model: Path
    process: subprocess.Popen | None
    command: list[str] | None = None  # while another test process trains the model: to train it if that fails

    @classmethod
    def start(cls, command: list[str], model: Path) -> "Training":
        model.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_path(model), "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return cls(model, None, command)  # another test process trains it
            if model.exists():
                return cls(model, None)
            _running.append(cls(model, train_holding(lock, command, model)))
        return _running[-1]

    def result(self) -> Path:
        """The model file, once trained; the log's reasons if the training failed."""
        if self.command is not None:  # trained by another test process: wait for its lock
            with open(lock_path(self.model), "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                if not self.model.exists():
                    self.process = train_holding(lock, self.command, self.model)
            self.command = None
        if self.process is not None and self.process.wait() != 0 or not self.model.exists():
            reasons = "\n".join(reason_lines(log_path(self.model)))
            raise RuntimeError(f"training {self.model.name} failed; from {log_path(self.model)}:\n{reasons}")
        return self.model

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:  # the run's end must not wait on a training that ignores SIGTERM
                self.process.kill()
                self.process.wait()


def train_holding(lock, command: list[str], model: Path) -> subprocess.Popen:
    """Start ``rasa train`` with the locked file open: the lock lasts exactly as long as the training."""
    with open(log_path(model), "wb") as log:
        return subprocess.Popen(command, cwd=PROJECT_ROOT, env=rasa_env(), stdout=log, stderr=subprocess.STDOUT,
                                pass_fds=(lock.fileno(),))


def lock_path(model: Path) -> Path:
    return model.with_name(model.name.removesuffix(".tar.gz") + ".lock")


def log_path(model: Path) -> Path:
    return model.with_name(model.name.removesuffix(".tar.gz") + ".log")


def rasa_env() -> dict[str, str]:
    return {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "RASA_CACHE_DIRECTORY": str(RASA_CACHE)}


def rasa(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "rasa", *args], cwd=PROJECT_ROOT, env=rasa_env(), check=True,
                   capture_output=True)


@dataclass(frozen=True)
class HeldOut:
    """The NLU-only model trained on 80% of the examples, and the 20% it never saw."""

    training: Training
    test_file: Path


def served() -> Training:
    model = model_path(PROJECT_ROOT, MODELS)
    return Training.start(training_command(PROJECT_ROOT, model), model)


def held_out() -> HeldOut:
    """The fixed (seeded) split of ``nlu_data/nlu``, kept beside its model."""
    name = f"nlu-heldout-{content_hash(PROJECT_ROOT, NLU_INPUTS)}"
    split = MODELS / f"{name}-split"
    MODELS.mkdir(parents=True, exist_ok=True)
    with open(MODELS / f"{name}-split.lock", "a") as lock:  # the other test process may be writing it
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (split / "test_data.yml").exists():
            rasa("data", "split", "nlu", "--nlu", "nlu_data/nlu", "--training-fraction", "0.8",
                 "--random-seed", "42", "--out", str(split))
    model = MODELS / f"{name}.tar.gz"
    command = [sys.executable, "-m", "rasa", "train", "nlu", "--nlu", str(split / "training_data.yml"),
               "--config", "config.yml", "--out", str(MODELS), "--fixed-model-name", name]
    return HeldOut(Training.start(command, model), split / "test_data.yml")


# Which fixture needs which training (the fixtures in conftest.py and test_nlu_evaluation.py).
STARTERS = {"trained_model": served, "intent_report": held_out}
_started: dict[str, Training | HeldOut] = {}
_running: list[Training] = []


def start(fixtures: set[str]) -> None:
    """Start the trainings the named fixtures will need, all at once."""
    for fixture, starter in STARTERS.items():
        if fixture in fixtures and fixture not in _started:
            _started[fixture] = starter()


def started(fixture: str) -> Training | HeldOut:
    start({fixture})
    return _started[fixture]


def stop() -> None:
    """End trainings no test waited for (a run stopped early), so the session ends at once."""
    for training in _running:
        training.stop()
