"""Kefu's own hold tone: a soft repeating chime, generated here so no third-party music ships.

``python -m bot.ivr.hold_tone content/media/hold_tone.wav`` writes the file ``content/ivr.yml``
names as the hold audio: 8 kHz mono 16-bit WAV (the phone line's rate), a few seconds that loop
seamlessly (every note fades out before the loop ends). Editors may replace it with any 8 kHz WAV.
"""
from __future__ import annotations

import math
import sys
import wave
from array import array
from pathlib import Path

RATE = 8000
# A gentle major arpeggio and its answer (C5 E5 G5 E5 | D5 F5 A5 F5), one note per 0.6 s.
NOTES_HZ = (523.25, 659.25, 783.99, 659.25, 587.33, 698.46, 880.00, 698.46)
NOTE_S = 0.6
TAIL_S = 1.2  # a quiet pause before the pattern repeats
LEVEL = 0.18  # well below speech, so prompts stand out


def hold_tone_pcm() -> bytes:
    """The loop as s16le samples at 8 kHz."""
    total = int(RATE * (NOTE_S * len(NOTES_HZ) + TAIL_S))
    out = [0.0] * total
    length = int(RATE * NOTE_S * 1.5)
    for index, hz in enumerate(NOTES_HZ):
        start = int(index * NOTE_S * RATE)
        for i in range(min(length, total - start)):
            t = i / RATE
            envelope = min(1.0, t / 0.02) * math.exp(-t * 4.0)  # soft attack, bell-like decay
            out[start + i] += envelope * (math.sin(2 * math.pi * hz * t) + 0.25 * math.sin(4 * math.pi * hz * t))
    scale = LEVEL * 32767 / max(abs(v) for v in out)
    samples = array("h", (int(v * scale) for v in out))
    if sys.byteorder == "big":
        samples.byteswap()
    return samples.tobytes()


def write_hold_tone(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(hold_tone_pcm())


if __name__ == "__main__":
    write_hold_tone(Path(sys.argv[1] if len(sys.argv) > 1 else "content/media/hold_tone.wav"))
