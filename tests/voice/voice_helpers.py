"""Helpers shared by the voice tests (imported as a module: conftest names can collide)."""
from __future__ import annotations

import io
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest


def run_tool(*args: str | Path) -> None:
    """Run ffmpeg/sox for test fixtures (argument list, quiet, failing loudly)."""
    tool = str(args[0])
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed")
    command = [str(a) for a in args]
    if tool == "ffmpeg":
        command[1:1] = ["-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
    subprocess.run(command, check=True, capture_output=True, timeout=60)


def samples(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2").astype(np.float64)


def envelope(pcm: bytes, sample_rate: int, frame_ms: int = 50) -> np.ndarray:
    """Per-frame RMS in dB: a level contour that survives codecs and resampling."""
    x = samples(pcm)
    size = sample_rate * frame_ms // 1000
    frames = x[: len(x) // size * size].reshape(-1, size)
    return 20 * np.log10(np.sqrt((frames ** 2).mean(axis=1)) / 32768 + 1e-9)


MODEL_FILES = [
    "am/final.mdl", "conf/model.conf", "conf/mfcc.conf",
    "graph/HCLr.fst", "graph/Gr.fst", "graph/disambig_tid.int",
    "ivector/final.ie", "ivector/final.dubm", "ivector/final.mat",
    "ivector/global_cmvn.stats", "ivector/online_cmvn.conf", "ivector/splice.conf",
]


def fake_model(root: Path, skip: tuple[str, ...] = ()) -> Path:
    """A folder with the small-cn layout whose files hold garbage."""
    for relative in MODEL_FILES:
        if relative not in skip:
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            (root / relative).write_text("not a real model file\n")
    return root


def build_zip(entries: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for name, content in entries.items():
            bundle.writestr(name, content)
    return buffer.getvalue()


def model_zip() -> bytes:
    return build_zip({f"vosk-model-test-0.1/{name}": f"content of {name}" for name in MODEL_FILES})
