"""Shared fixtures for the voice tests: the real Mandarin clips, isolated settings, helpers."""
from __future__ import annotations

import csv
import http.server
import threading
from functools import partial
from pathlib import Path

import pytest

from bot.settings import from_environment, get_settings
from voice.errors import ModelMissingError
from voice.vosk_engine import validate_model_dir

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SPEECH_DIR = PROJECT_ROOT.parent / "shared" / "speech"


def _clip_names() -> list[str]:
    transcripts = SPEECH_DIR / "transcripts.tsv"
    if not transcripts.is_file():
        return ["<speech clips missing>"]
    with transcripts.open(encoding="utf-8") as handle:
        return [row["file"] for row in csv.DictReader(handle, delimiter="\t")]


CLIP_NAMES = _clip_names()


@pytest.fixture(scope="session")
def speech_dir() -> Path:
    if not (SPEECH_DIR / "transcripts.tsv").is_file():
        pytest.skip(f"shared speech clips not found at {SPEECH_DIR} (expected ../shared/speech "
                    "next to the project root)")
    return SPEECH_DIR


@pytest.fixture(scope="session")
def transcripts(speech_dir: Path) -> dict[str, str]:
    with (speech_dir / "transcripts.tsv").open(encoding="utf-8") as handle:
        return {row["file"]: row["transcript"] for row in csv.DictReader(handle, delimiter="\t")}


@pytest.fixture(params=CLIP_NAMES)
def clip(request, speech_dir: Path) -> Path:
    """Each real clip in turn (16 kHz mono 16-bit WAV)."""
    path = speech_dir / request.param
    if not path.is_file():
        pytest.skip(f"clip {path} is missing")
    return path


@pytest.fixture
def first_clip(speech_dir: Path) -> Path:
    return speech_dir / CLIP_NAMES[0]


@pytest.fixture
def settings(tmp_path: Path):
    """Settings pointing every writable path into tmp_path; no model configured."""
    return from_environment({
        "KEFU_ROOT": str(PROJECT_ROOT),
        "KEFU_DATA_DIR": str(tmp_path / "var"),
        "KEFU_PROMPTS_DIR": str(tmp_path / "prompts"),
        "KEFU_TTS_CACHE_DIR": str(tmp_path / "tts-cache"),
    })


@pytest.fixture(scope="session")
def vosk_model_dir() -> Path:
    """The real model from VOSK_MODEL_PATH; recognition tests are skipped without one."""
    configured = get_settings().vosk_model_path
    if configured is None:
        pytest.skip("VOSK_MODEL_PATH is not set: no Vosk model on this machine, recognition "
                    "tests need vosk-model-small-cn-0.22 (run `kefu model download`)")
    try:
        return validate_model_dir(configured)
    except ModelMissingError as exc:
        pytest.skip(f"VOSK_MODEL_PATH does not point at a complete model: {exc}")


@pytest.fixture
def served(tmp_path: Path):
    """A loopback HTTP server over a folder; yields (folder, base URL)."""
    root = tmp_path / "www"
    root.mkdir()

    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
