"""Train the Rasa model only when the training data changed.

The model file is named after a hash of everything that shapes it, so a
second ``make run`` (or a second test session) finds it and skips training.
"""
from __future__ import annotations

import hashlib
import subprocess
import sys
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


def model_path(root: Path, models_dir: Path) -> Path:
    return models_dir / f"kefu-{content_hash(root)}.tar.gz"


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


def ensure_model(root: Path, models_dir: Path, *, quiet: bool = False) -> tuple[Path, bool]:
    """Return (model file, trained_now). Trains with ``rasa train`` if no model matches."""
    target = model_path(root, models_dir)
    if target.exists():
        return target, False
    models_dir.mkdir(parents=True, exist_ok=True)
    output = subprocess.DEVNULL if quiet else None
    subprocess.run(training_command(root, target), cwd=root, check=True, stdout=output)
    if not target.exists():
        raise RuntimeError(f"rasa train finished but {target} is missing")
    return target, True
