"""The caller's audio for one call: endpointing, utterances for ASR, voice-message recording.

Every inbound frame goes through one :class:`voice.vad.EndpointDetector` for the whole call
(never reset), so speech start/end is a pure function of the audio received — a test can
replay the same audio through the same detector and know exactly where barge-in must happen.
What the frames mean depends on the mode the session sets: ``listen`` (utterances go to ASR),
``record`` (everything is kept until silence, a key or the length cap), or ``idle``.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from voice.pcm import SAMPLE_WIDTH
from voice.vad import SPEECH_END, SPEECH_START, EndpointDetector, VadConfig

PHONE_VAD = VadConfig(aggressiveness=2, frame_ms=20, start_ms=200, end_ms=700)
PREROLL_S = 0.4  # the detector decides "speech" ~start_ms late: keep what came before
NO_SPEECH_RECORDING_S = 8.0  # a recording with nobody talking ends after this

IDLE, LISTEN, RECORD = "idle", "listen", "record"


@dataclass(frozen=True)
class SpeechBegan:
    at: float  # seconds of call audio


@dataclass(frozen=True)
class UtteranceAudio:
    pcm: bytes
    sample_rate: int
    cut: bool  # ended by the length cap, not by silence


@dataclass(frozen=True)
class RecordingAudio:
    pcm: bytes
    sample_rate: int
    finished_by: str
    heard_speech: bool


class CallAudio:
    def __init__(self, sample_rate: int = 8000, vad: VadConfig = PHONE_VAD,
                 max_utterance_s: float = 15.0) -> None:
        self.sample_rate = sample_rate
        self.detector = EndpointDetector(sample_rate, vad)
        self.max_utterance_bytes = int(max_utterance_s * sample_rate) * SAMPLE_WIDTH
        self._preroll: deque[bytes] = deque()
        self._preroll_bytes = 0
        self._preroll_max = int(PREROLL_S * sample_rate) * SAMPLE_WIDTH
        self.mode = IDLE
        self._utterance: bytearray | None = None
        self._recording: bytearray | None = None
        self._record_limits = (0, 0, 0)
        self._silence_bytes = 0
        self._heard = False

    @property
    def in_speech(self) -> bool:
        return self.detector.in_speech

    @property
    def seconds(self) -> float:
        return self.detector.position

    def listen(self) -> None:
        if self.mode != LISTEN:
            self.mode = LISTEN
            self._utterance = None

    def idle(self) -> None:
        self.mode = IDLE
        self._utterance = None

    def start_recording(self, max_seconds: float, end_silence_s: float) -> None:
        self.mode = RECORD
        self._utterance = None
        self._recording = bytearray()
        rate = self.sample_rate * SAMPLE_WIDTH
        self._record_limits = (int(max_seconds * rate), int(end_silence_s * rate), int(NO_SPEECH_RECORDING_S * rate))
        self._silence_bytes = 0
        self._heard = False

    def finish_recording(self, finished_by: str) -> RecordingAudio | None:
        if self.mode != RECORD or self._recording is None:
            return None
        audio = RecordingAudio(bytes(self._recording), self.sample_rate, finished_by, self._heard)
        self._recording = None
        self.mode = IDLE
        return audio

    def feed(self, pcm: bytes) -> list:
        events = self.detector.feed(pcm)
        out: list = []
        for event in events:
            if event.kind == SPEECH_START:
                out.append(SpeechBegan(event.at))
                if self.mode == LISTEN and self._utterance is None:
                    self._utterance = bytearray(b"".join(self._preroll))
                if self.mode == RECORD:
                    self._heard = True
        if self.mode == LISTEN and self._utterance is not None:
            self._utterance += pcm
            ended = any(e.kind == SPEECH_END for e in events)
            if ended or len(self._utterance) >= self.max_utterance_bytes:
                out.append(UtteranceAudio(bytes(self._utterance), self.sample_rate, cut=not ended))
                # Still noisy after a cut: the next stretch is another utterance.
                self._utterance = bytearray() if (not ended and self.detector.in_speech) else None
        elif self.mode == RECORD and self._recording is not None:
            out.extend(self._record(pcm))
        self._remember(pcm)
        return out

    def _record(self, pcm: bytes) -> list:
        self._recording += pcm
        max_bytes, end_silence, no_speech = self._record_limits
        self._silence_bytes = 0 if self.detector.in_speech else self._silence_bytes + len(pcm)
        if len(self._recording) >= max_bytes:
            return [self.finish_recording("max_length")]
        if self._heard and self._silence_bytes >= end_silence:
            return [self.finish_recording("silence")]
        if not self._heard and len(self._recording) >= no_speech:
            return [self.finish_recording("silence")]
        return []

    def _remember(self, pcm: bytes) -> None:
        self._preroll.append(pcm)
        self._preroll_bytes += len(pcm)
        while self._preroll_bytes - len(self._preroll[0]) >= self._preroll_max:
            self._preroll_bytes -= len(self._preroll.popleft())
