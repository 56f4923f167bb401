"""A test double behind the ASR interface for the phone, used when no Vosk model is present.

``ScriptedRecognizerForTests`` recognises nothing. A test writes a script — "speech lasting
about N seconds is heard as TEXT" — to ``<data dir>/ivr-asr-script.json``; the recogniser
measures the speech it was actually given (with the same VAD the IVR uses) and answers the
entry whose duration matches, or nothing. So the real recordings still travel the whole way
(μ-law over the WebSocket, endpointing, utterance capture at 8 kHz) and only the model is
replaced. The Rasa server loads it by name through KEFU_IVR_ASR_ENGINE.
"""
from __future__ import annotations

import json
from pathlib import Path

from voice.asr import AsrEngine, Partial, Recognizer, Result, Word
from voice.pcm import SAMPLE_WIDTH
from voice.vad import find_speech_span

SCRIPT_FILE = "ivr-asr-script.json"
TOLERANCE_S = 0.35


def speech_seconds(pcm: bytes, sample_rate: int) -> float:
    from bot.ivr.call_audio import PHONE_VAD

    span = find_speech_span(pcm, sample_rate, PHONE_VAD)
    return span[1] - span[0] if span else 0.0


def write_script(data_dir: Path, entries: list[tuple[float, str]]) -> None:
    (Path(data_dir) / SCRIPT_FILE).write_text(
        json.dumps([{"seconds": s, "text": t} for s, t in entries], ensure_ascii=False), encoding="utf-8")


class _Stream(Recognizer):
    def __init__(self, script_path: Path, sample_rate: int) -> None:
        self.script_path = script_path
        self.sample_rate = sample_rate
        self.pcm = bytearray()

    def accept(self, pcm: bytes) -> Partial | None:
        self.pcm += pcm
        return None

    def final(self) -> Result:
        seconds = speech_seconds(bytes(self.pcm), self.sample_rate)
        try:
            script = json.loads(self.script_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            script = []
        matches = [e for e in script if abs(e["seconds"] - seconds) <= TOLERANCE_S]
        if not seconds or not matches:
            return Result(text="", confidence=0.0)
        best = min(matches, key=lambda e: abs(e["seconds"] - seconds))
        total = len(self.pcm) / SAMPLE_WIDTH / self.sample_rate
        return Result.from_words([Word(best["text"], 0.0, total, 0.95)])


class ScriptedRecognizerForTests(AsrEngine):
    def __init__(self, script_path: Path) -> None:
        self.script_path = Path(script_path)

    @classmethod
    def from_settings(cls, settings=None) -> "ScriptedRecognizerForTests":
        if settings is None:
            from bot.settings import get_settings

            settings = get_settings()
        return cls(settings.data_dir / SCRIPT_FILE)

    def new_stream(self, sample_rate: int, phrases: list[str] | None = None) -> Recognizer:
        return _Stream(self.script_path, sample_rate)
