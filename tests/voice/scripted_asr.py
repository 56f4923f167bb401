"""A test double behind the AsrEngine interface: it "hears" a scripted transcript.

Used where a test needs a known transcript from real audio without a Vosk model (none can be
downloaded on the CI machines). It still consumes the decoded audio through the real
``AsrEngine.transcribe_pcm`` path and remembers what it was fed, so tests can check that the
pipeline handed it the whole message at the right rate.
"""
from __future__ import annotations

from voice.asr import AsrEngine, Partial, Recognizer, Result, Word


class ScriptedRecognizerForTests(Recognizer):
    def __init__(self, engine: "ScriptedAsrEngineForTests", sample_rate: int) -> None:
        self._engine = engine
        self.sample_rate = sample_rate
        self.received = 0

    def accept(self, pcm: bytes) -> Partial | None:
        self.received += len(pcm)
        return None

    def final(self) -> Result:
        self._engine.fed.append((self.sample_rate, self.received))
        if not self._engine.transcript:
            return Result(text="", confidence=0.0)
        word = Word(self._engine.transcript, 0.0, 1.0, self._engine.confidence)
        return Result.from_words([word])


class ScriptedAsrEngineForTests(AsrEngine):
    """Returns ``transcript`` with ``confidence`` for every stream."""

    def __init__(self, transcript: str, confidence: float = 0.9) -> None:
        self.transcript = transcript
        self.confidence = confidence
        self.fed: list[tuple[int, int]] = []  # (sample rate, bytes) per finished stream

    def new_stream(self, sample_rate: int, phrases: list[str] | None = None) -> ScriptedRecognizerForTests:
        return ScriptedRecognizerForTests(self, sample_rate)
