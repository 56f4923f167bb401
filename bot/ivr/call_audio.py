"""The caller's audio for one call: endpointing, streaming turns for ASR, voice-message recording.

Every inbound frame goes through one :class:`voice.vad.EndpointDetector` for the whole call
(never reset), so speech start/end is a pure function of the audio received — a test can
replay the same audio through the same detector and know exactly where barge-in must happen.
What the frames mean depends on the mode the session sets: ``listen`` (each turn streams into
the recogniser while the caller speaks), ``record`` (everything is kept until silence, a key or
the length cap), or ``idle``.

A listening turn ends at the first of: the recogniser's own endpoint (Vosk's rules, with words
heard); a short VAD silence once the recogniser has words (``quick_end_s`` in a menu grammar,
``quick_end_free_s`` for free speech); the VAD's full end of speech (``end_ms``, for sound the
recogniser made nothing of); the length cap. A turn ended before the VAD's end of speech
closes the VAD's segment too, so a caller who pauses and goes on starts a new turn: the rest of
the sentence becomes its own utterance instead of being lost. A turn whose words are only an
unfinished start (``unfinished_starts``: "我想", "那个", from ``content/ivr.yml``) is not over at any of
the first three: it waits for the rest of the sentence until ``unfinished_wait_s`` of silence (found by
an accessibility audit: "我想 … 查一下话费" became "我想", answered "没听清楚"), or of what the VAD takes
for speech with no new word from the recogniser (a noisy line's hiss).
"""
from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from typing import Callable

from bot.ivr.speech_turn import StreamingTurn
from voice.pcm import SAMPLE_WIDTH
from voice.vad import SPEECH_END, SPEECH_START, EndpointDetector, VadConfig

PHONE_VAD = VadConfig(aggressiveness=2, frame_ms=20, start_ms=200, end_ms=700)
PREROLL_S = 0.4  # the detector decides "speech" ~start_ms late: keep what came before
NO_SPEECH_RECORDING_S = 8.0  # a recording with nobody talking ends after this
# VAD silence that ends a turn once the recogniser has words (without words: the VAD's end_ms);
# the hotline's limits (content/ivr.yml) override both. Free speech used to wait 0.4 s, for
# callers who pause inside a sentence; that wait was ~85 % of a bot turn's voice-to-voice time
# (bench/RESULTS.md). Now a pause longer than this ends the turn and whatever the caller says
# next is the next turn (see end_segment below), so nothing said is lost to a short end.
QUICK_END_S = 0.25
QUICK_END_FREE_S = 0.25

IDLE, LISTEN, RECORD = "idle", "listen", "record"


@dataclass(frozen=True)
class SpeechBegan:
    at: float  # seconds of call audio


@dataclass(frozen=True)
class TurnEnded:
    turn: StreamingTurn
    why: str  # "asr_endpoint" | "quick_silence" | "vad_silence" | "unfinished_silence" | "length_cap"
    silence_s: float = 0.0  # the caller's silence (VAD) when the turn was ended

    @property
    def cut(self) -> bool:
        return self.why == "length_cap"


@dataclass(frozen=True)
class RecordingAudio:
    pcm: bytes
    sample_rate: int
    finished_by: str
    heard_speech: bool


class CallAudio:
    def __init__(self, sample_rate: int = 8000, vad: VadConfig = PHONE_VAD,
                 max_utterance_s: float = 15.0, quick_end_s: float = QUICK_END_S,
                 quick_end_free_s: float = QUICK_END_FREE_S, unfinished_starts: tuple[str, ...] = (),
                 unfinished_wait_s: float = 2.0) -> None:
        self.sample_rate = sample_rate
        self.unfinished = unfinished_pattern(unfinished_starts)
        self.unfinished_wait_s = unfinished_wait_s
        self.detector = EndpointDetector(sample_rate, vad)
        self.max_utterance_s = max_utterance_s
        self.quick_end_s = quick_end_s
        self.quick_end_free_s = quick_end_free_s
        self._preroll: deque[bytes] = deque()
        self._preroll_bytes = 0
        self._preroll_max = int(PREROLL_S * sample_rate) * SAMPLE_WIDTH
        self.mode = IDLE
        self._new_turn: Callable[[], StreamingTurn] | None = None
        self._turn: StreamingTurn | None = None
        self._recording: bytearray | None = None
        self._record_limits = (0, 0, 0)
        self._silence_bytes = 0
        self._heard = False
        self._words = ""  # the turn's words when last looked at, and the speech heard since they changed
        self._wordless_speech_s = 0.0

    @property
    def in_speech(self) -> bool:
        return self.detector.in_speech

    @property
    def seconds(self) -> float:
        return self.detector.position

    def listen(self, new_turn: Callable[[], StreamingTurn]) -> None:
        """Recognise speech; ``new_turn`` makes the recogniser turn for each stretch of speech."""
        if self.mode != LISTEN:
            self._drop_turn()
        self.mode = LISTEN
        self._new_turn = new_turn

    def idle(self) -> None:
        self.mode = IDLE
        self._drop_turn()

    def close(self) -> None:
        self._drop_turn()

    def start_recording(self, max_seconds: float, end_silence_s: float) -> None:
        self.mode = RECORD
        self._drop_turn()
        # A caller who started a moment before the beep is heard already, and what they said just
        # before it is kept (found by a tester: such a message was thrown away as "nothing recorded").
        self._heard = self.detector.in_speech
        self._recording = bytearray(b"".join(self._preroll)) if self._heard else bytearray()
        rate = self.sample_rate * SAMPLE_WIDTH
        self._record_limits = (int(max_seconds * rate), int(end_silence_s * rate), int(NO_SPEECH_RECORDING_S * rate))
        self._silence_bytes = 0

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
                if self.mode == LISTEN and self._turn is None and self._new_turn is not None:
                    self._start_turn()
                    self._turn.push(b"".join(self._preroll))
                if self.mode == RECORD:
                    self._heard = True
        if self.mode == LISTEN and self._turn is not None:
            self._turn.push(pcm)
            self._count_wordless_speech(len(pcm) / SAMPLE_WIDTH / self.sample_rate)
            why = self._turn_over(any(e.kind == SPEECH_END for e in events))
            if why:
                out.append(TurnEnded(self._turn, why, self.detector.trailing_silence))
                self._turn = None
                if why == "length_cap" and self.detector.in_speech:
                    self._start_turn()  # still talking after a cut: the next stretch is another turn
                else:
                    # Ended before the VAD's own end of speech: if the caller goes on, that is a new
                    # start (and a new turn), never audio nobody listens to.
                    self.detector.end_segment()
        elif self.mode == RECORD and self._recording is not None:
            out.extend(self._record(pcm))
        self._remember(pcm)
        return out

    def _turn_over(self, vad_ended: bool) -> str:
        turn = self._turn
        if self.unfinished is not None and turn.hypothesis and self.unfinished.match(_compact(turn.hypothesis)):
            if turn.seconds >= self.max_utterance_s:
                return "length_cap"
            # Only the start of a sentence so far: the caller is looking for words. Keep listening, until
            # they have been silent that long or, on a noisy line the VAD takes for speech, have added no
            # word in that long (found in review: such a line waited for the length cap, 15 s).
            waited = max(self.detector.trailing_silence, self._wordless_speech_s)
            return "unfinished_silence" if waited >= self.unfinished_wait_s else ""
        if turn.endpoint:
            return "asr_endpoint"
        quick_end = self.quick_end_s if turn.phrases else self.quick_end_free_s
        if turn.hypothesis and self.detector.trailing_silence >= quick_end:
            return "quick_silence"
        if vad_ended:
            return "vad_silence"
        if turn.seconds >= self.max_utterance_s:
            return "length_cap"
        return ""

    def _start_turn(self) -> None:
        self._turn = self._new_turn()
        self._words, self._wordless_speech_s = "", 0.0

    def _count_wordless_speech(self, seconds: float) -> None:
        """How long the VAD has heard speech since the recogniser's words last changed: line noise it
        takes for speech brings no words. Silence is not counted (the VAD's trailing silence is), so a
        caller who pauses and goes on is not cut while the recogniser catches up with their next words."""
        if self._turn.hypothesis != self._words:
            self._words, self._wordless_speech_s = self._turn.hypothesis, 0.0
        elif self.detector.in_speech:
            self._wordless_speech_s += seconds

    def _drop_turn(self) -> None:
        if self._turn is not None:
            self._turn.cancel()
            self._turn = None

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


def _compact(text: str) -> str:
    return re.sub(r"\s+", "", text)


def unfinished_pattern(starts: tuple[str, ...]) -> re.Pattern | None:
    """Matches a whole hypothesis made only of unfinished starts ("嗯那个我想"); None when there are none."""
    words = sorted({_compact(w) for w in starts if _compact(w)}, key=len, reverse=True)
    return re.compile("(?:" + "|".join(map(re.escape, words)) + ")+$") if words else None
