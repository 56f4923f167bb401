"""Train the Rasa model only when the training data changed.

The model file is named after a hash of everything that shapes it, so a
second ``make run`` (or a second test session) finds it and skips training.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TRAINING_INPUTS = ("config.yml", "domain", "nlu_data")
NLU_INPUTS = ("config.yml", "nlu_data")
# The pipeline's own components (config.yml names them): their code shapes the model as much as
# the data does. Hashed where Python imports them from, so a copy of the editors' files elsewhere
# (a staging folder, a test project) still finds the model trained for the same code. The folder
# holds the components only: code that merely reads a model (bot/nlu_evaluation.py) lives outside
# it, so changing that code does not retrain.
COMPONENTS = Path(__file__).resolve().parent / "nlu"


def training_files(root: Path, inputs: tuple[str, ...] = TRAINING_INPUTS) -> list[Path]:
    """The files under ``inputs`` (compiled Python caches left out)."""
    files: list[Path] = []
    for name in inputs:
        path = root / name
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts))
        else:
            files.append(path)
    return files


def content_hash(root: Path, inputs: tuple[str, ...] = TRAINING_INPUTS, components: Path = COMPONENTS) -> str:
    """Hash of file names and contents of the training inputs and the components (order-stable)."""
    digest = hashlib.sha256()
    named = [(path, path.relative_to(root)) for path in training_files(root, inputs)]
    named += [(path, Path("components") / path.relative_to(components))
              for path in training_files(components, (".",)) if path.suffix == ".py"]
    for path, name in named:
        digest.update(str(name).encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def model_file(models_dir: Path, digest: str) -> Path:
    """The model trained on files whose ``content_hash`` is ``digest``."""
    return models_dir / f"kefu-{digest}.tar.gz"


def model_path(root: Path, models_dir: Path) -> Path:
    return model_file(models_dir, content_hash(root))


def training_command(root: Path, target: Path) -> list[str]:
    """The ``rasa train`` that writes the model for ``root``'s files to ``target``."""
    return [
        sys.executable, "-m", "rasa", "train",
        "--config", str(root / "config.yml"),
        "--domain", str(root / "domain"),
        "--data", str(root / "nlu_data"),
        "--out", str(target.parent),
        "--fixed-model-name", target.name.removesuffix(".tar.gz"),
    ]


class FilesChanged(RuntimeError):
    """The training files changed after they were checked: training them would publish unchecked files."""


def copy_inputs(root: Path, staging: Path) -> None:
    """The training inputs of ``root`` as they are now, each file read once, into ``staging``."""
    for source in training_files(root):
        if source.exists():
            copy = staging / source.relative_to(root)
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy)


STALE_PARTIAL_S = 6 * 3600  # far longer than any training: a partial archive this old was a killed one's


def drop_stale_partials(models_dir: Path, now: float | None = None) -> None:
    """Delete the half-written archives of trainings killed outright (SIGKILL, a power cut), which nothing
    else removes (27 MB each). By age, not by process id: a shared models folder holds other machines'."""
    now = time.time() if now is None else now
    for partial in models_dir.glob(".partial-*"):
        try:
            if now - partial.stat().st_mtime > STALE_PARTIAL_S:
                partial.unlink()
        except FileNotFoundError:  # another training's cleanup got there first
            pass


def ensure_model(root: Path, models_dir: Path, *, quiet: bool = False, expect: str | None = None) -> tuple[Path, bool]:
    """Return (model file, trained_now). Trains with ``rasa train`` if no model matches.

    An editor may save while this trains (minutes): the files are copied first and the copy is what is
    hashed and trained, so a model always holds the files its name says. ``expect``: the hash of the
    files the caller checked (``kefu train`` validates first); ``FilesChanged`` if the copy differs.
    The archive is written under a temporary name and renamed once whole: a training stopped while
    writing it leaves nothing that a later run would take for the model.
    """
    digest = content_hash(root)
    target = model_file(models_dir, digest)
    if target.exists() and expect in (None, digest):
        return target, False
    models_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="kefu-training-inputs-") as staging:
        copy_inputs(root, Path(staging))
        digest = content_hash(Path(staging))
        if expect is not None and digest != expect:
            raise FilesChanged("the training files changed after they were checked")
        target = model_file(models_dir, digest)
        if target.exists():
            return target, False
        drop_stale_partials(models_dir)
        # No dot inside the name: Rasa replaces a --fixed-model-name's last suffix with .tar.gz.
        partial = models_dir / f".partial-{os.getpid()}-{target.name}"
        env = dict(os.environ)  # Rasa's cache: the checkout's (Rasa's default is relative to the working folder)
        env.setdefault("RASA_CACHE_DIRECTORY", str(root.resolve() / ".rasa" / "cache"))
        for name in ("KEFU_ROOT", "KEFU_MODELS_DIR"):  # read by the pipeline's components, from another folder
            if env.get(name):
                env[name] = str(Path(env[name]).expanduser().resolve())
        try:
            subprocess.run(training_command(Path(staging), partial), cwd=staging, env=env, check=True,
                           stdout=subprocess.DEVNULL if quiet else None)
            if not partial.exists():
                raise RuntimeError(f"rasa train finished but {partial} is missing")
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
    return target, True
