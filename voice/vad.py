"""Speech endpointing on top of webrtcvad's per-frame voiced/unvoiced decision.

webrtcvad judges single 10/20/30 ms frames; a phone dialogue needs "the caller started talking"
(barge-in) and "the caller finished" (send the utterance to ASR). :class:`EndpointDetector`
adds the hangover: ``start_ms`` of mostly-voiced frames to start, ``end_ms`` of mostly-unvoiced
frames to end. It works on a stream (``feed`` any byte count, get events) and on a whole buffer
(:func:`find_speech_span`). Times are seconds from the first byte fed.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import webrtcvad

from voice.pcm import SAMPLE_WIDTH, check_rate, frame_bytes

SPEECH_START = "speech_start"
SPEECH_END = "speech_end"


@dataclass(frozen=True)
class VadConfig:
    """Endpointing knobs; the defaults suit 8 kHz phone audio and 16 kHz uploads alike."""

    aggressiveness: int = 2  # webrtcvad mode 0 (lenient) .. 3 (strict)
    frame_ms: int = 30
    start_ms: int = 300
    end_ms: int = 700
    start_ratio: float = 0.8  # voiced share of the start window that counts as speech
    end_ratio: float = 0.9  # unvoiced share of the end window that counts as silence

    def __post_init__(self) -> None:
        if self.frame_ms not in (10, 20, 30):
            raise ValueError("webrtcvad frames must be 10, 20 or 30 ms")
        if not 0 <= self.aggressiveness <= 3:
            raise ValueError("aggressiveness must be 0..3")
        if self.start_ms < self.frame_ms or self.end_ms < self.frame_ms:
            raise ValueError("start_ms and end_ms must cover at least one frame")


@dataclass(frozen=True)
class SpeechEvent:
    """``at`` is where speech began/ended; ``detected_at`` is when the detector could tell."""

    kind: str
    at: float
    detected_at: float


class EndpointDetector:
    """Streaming speech start/end detector for one audio stream (not thread-safe)."""

    def __init__(self, sample_rate: int, config: VadConfig | None = None) -> None:
        self.sample_rate = check_rate(sample_rate)
        self.config = config or VadConfig()
        self._vad = webrtcvad.Vad(self.config.aggressiveness)
        self._frame_bytes = frame_bytes(sample_rate, self.config.frame_ms)
        self._start_frames = self.config.start_ms // self.config.frame_ms
        self._end_frames = self.config.end_ms // self.config.frame_ms
        self.reset()

    def reset(self) -> None:
        self._pending = b""
        self._frames_seen = 0
        self._in_speech = False
        self._last_voiced_end = 0.0
        self._window: deque[tuple[float, bool]] = deque(maxlen=self._start_frames)

    @property
    def in_speech(self) -> bool:
        return self._in_speech

    @property
    def trailing_silence(self) -> float:
        """Seconds since the last voiced frame ended (0.0 while the last frame was voiced)."""
        return self.position - self._last_voiced_end

    @property
    def position(self) -> float:
        """Seconds of audio judged so far."""
        return self._frames_seen * self.config.frame_ms / 1000

    def feed(self, pcm: bytes) -> list[SpeechEvent]:
        """Judge every whole frame in ``pcm`` (plus bytes left over from the last call)."""
        data = self._pending + pcm
        usable = len(data) - len(data) % self._frame_bytes
        self._pending = data[usable:]
        events = []
        for offset in range(0, usable, self._frame_bytes):
            event = self._judge(data[offset : offset + self._frame_bytes])
            if event:
                events.append(event)
        return events

    def end_segment(self) -> None:
        """Someone else (the recogniser) ended the speech segment: what follows is judged anew.

        Without this a caller who pauses past the recogniser's end of turn but inside ``end_ms``,
        then goes on, would never produce another ``speech_start``: the detector still thinks
        the first segment is running.
        """
        if self._in_speech:
            self._in_speech = False
            self._window = deque(maxlen=self._start_frames)

    def finish(self) -> list[SpeechEvent]:
        """End of stream: close an open speech segment at the end of its last voiced frame."""
        self._pending = b""
        if not self._in_speech:
            return []
        self._in_speech = False
        self._window = deque(maxlen=self._start_frames)
        return [SpeechEvent(SPEECH_END, self._last_voiced_end, self.position)]

    def _judge(self, frame: bytes) -> SpeechEvent | None:
        start = self.position
        self._frames_seen += 1
        voiced = self._vad.is_speech(frame, self.sample_rate)
        if voiced:
            self._last_voiced_end = self.position
        self._window.append((start, voiced))
        return self._maybe_end() if self._in_speech else self._maybe_start()

    def _maybe_start(self) -> SpeechEvent | None:
        voiced = [t for t, v in self._window if v]
        window_full = len(self._window) == self._start_frames
        if not window_full or len(voiced) < self.config.start_ratio * self._start_frames:
            return None
        self._in_speech = True
        self._window = deque(maxlen=self._end_frames)
        return SpeechEvent(SPEECH_START, voiced[0], self.position)

    def _maybe_end(self) -> SpeechEvent | None:
        unvoiced = [t for t, v in self._window if not v]
        window_full = len(self._window) == self._end_frames
        if not window_full or len(unvoiced) < self.config.end_ratio * self._end_frames:
            return None
        self._in_speech = False
        ended_at = self._silence_onset()
        self._window = deque(maxlen=self._start_frames)
        return SpeechEvent(SPEECH_END, ended_at, self.position)

    def _silence_onset(self) -> float:
        """Start of the earliest unvoiced frame after which silence dominates the window.

        A stray voiced frame inside the silence (noise, a click) does not move the end later.
        """
        frames = list(self._window)
        for index, (start, voiced) in enumerate(frames):
            tail = frames[index:]
            if not voiced and sum(not v for _, v in tail) >= self.config.end_ratio * len(tail):
                return start
        return frames[-1][0]


def find_speech_segments(pcm: bytes, sample_rate: int,
                         config: VadConfig | None = None) -> list[tuple[float, float]]:
    """(start, end) in seconds of every speech segment in a whole buffer."""
    detector = EndpointDetector(sample_rate, config)
    events = detector.feed(pcm[: len(pcm) - len(pcm) % SAMPLE_WIDTH]) + detector.finish()
    starts = [e.at for e in events if e.kind == SPEECH_START]
    ends = [e.at for e in events if e.kind == SPEECH_END]
    return list(zip(starts, ends))


def find_speech_span(pcm: bytes, sample_rate: int,
                     config: VadConfig | None = None) -> tuple[float, float] | None:
    """From the first speech start to the last speech end, or None when nobody spoke."""
    segments = find_speech_segments(pcm, sample_rate, config)
    return (segments[0][0], segments[-1][1]) if segments else None
