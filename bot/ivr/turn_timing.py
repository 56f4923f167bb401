"""Where one spoken turn's time goes, from the end of the caller's speech to the first answer frame.

The session stamps each step (:class:`TurnTiming`) and logs one ``ivr.turn.timing`` line per
answered turn, so ``bench/ivr.py`` (and anyone reading a production log) can split the
voice-to-voice latency into: the silence the end-of-turn rule waited for, flushing the
recogniser, the flow engine (a bot node's Rasa turn included) and the reply's audio
(synthesis or cache, up to the first frame on the wire).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

STAGES = ("wait_ms", "flush_ms", "engine_ms", "audio_ms")


@dataclass
class TurnTiming:
    why: str  # what ended the turn (bot.ivr.call_audio.TurnEnded.why)
    silence_s: float  # caller silence (VAD, line-audio clock) when the turn was ended
    ended_at: float = field(default_factory=time.monotonic)
    flushed_at: float = 0.0
    handled_at: float = 0.0

    def stages(self, first_audio_at: float) -> dict[str, float]:
        return {"wait_ms": 1000 * self.silence_s,
                "flush_ms": 1000 * (self.flushed_at - self.ended_at),
                "engine_ms": 1000 * (self.handled_at - self.flushed_at),
                "audio_ms": 1000 * (first_audio_at - self.handled_at)}

    def log(self, call_id: str | None, first_audio_at: float) -> None:
        stages = self.stages(first_audio_at)
        logger.info("ivr.turn.timing call=%s why=%s %s", call_id, self.why,
                    " ".join(f"{name}={value:.0f}" for name, value in stages.items()))
