"""A test double for the ASR interface, used when no Vosk model is available.

``ScriptedRecognizerForTests`` does not recognise anything: for audio that really contains
sound (decoded, non-silent, long enough) it returns ``SCRIPTED_TRANSCRIPT``; for silence or
near-empty audio it returns nothing. It still receives exactly what the real engine would —
16 kHz PCM decoded from the AMR WeChat served — and records what it heard, so the tests check
the whole voice path except the model itself. The Rasa server loads it by name through
WECHAT_ASR_ENGINE; with VOSK_MODEL_PATH set the tests use the real Vosk engine instead.
"""
from __future__ import annotations

from voice.asr import AsrEngine, Partial, Recognizer, Result, Word
from voice.pcm import SAMPLE_WIDTH, rms_dbfs

SCRIPTED_TRANSCRIPT = "宽带连不上了"
MIN_SECONDS = 0.5
MIN_DBFS = -45.0


class _ScriptedStream(Recognizer):
    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self.pcm = bytearray()

    def accept(self, pcm: bytes) -> Partial | None:
        self.pcm += pcm
        return None

    def final(self) -> Result:
        seconds = len(self.pcm) / SAMPLE_WIDTH / self.sample_rate
        if seconds < MIN_SECONDS or rms_dbfs(bytes(self.pcm)) < MIN_DBFS:
            return Result(text="", confidence=0.0)
        return Result.from_words([Word(SCRIPTED_TRANSCRIPT, 0.0, seconds, 1.0)])


class ScriptedRecognizerForTests(AsrEngine):
    """Engine half of the double: one scripted stream per voice message."""

    @classmethod
    def from_settings(cls, settings=None) -> "ScriptedRecognizerForTests":
        return cls()

    def new_stream(self, sample_rate: int, phrases: list[str] | None = None) -> Recognizer:
        return _ScriptedStream(sample_rate)
