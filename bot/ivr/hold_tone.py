"""Kefu's own hold tone: a soft repeating chime, generated here so no third-party music ships.

``python -m bot.ivr.hold_tone content/media/hold_tone.wav`` writes the file ``content/ivr.yml``
names as the hold audio: 8 kHz mono 16-bit WAV (the phone line's rate), a few seconds that loop
seamlessly (every note fades out before the loop ends). Editors may replace it with any 8 kHz WAV.
"""
from __future__ import annotations

import sys
import wave
from pathlib import Path

import numpy as np

RATE = 8000
# A gentle major arpeggio and its answer (C5 E5 G5 E5 | D5 F5 A5 F5), one note per 0.6 s.
NOTES_HZ = (523.25, 659.25, 783.99, 659.25, 587.33, 698.46, 880.00, 698.46)
NOTE_S = 0.6
TAIL_S = 1.2  # a quiet pause before the pattern repeats
LEVEL = 0.18  # well below speech, so prompts stand out


def hold_tone_pcm() -> bytes:
    """The loop as s16le samples at 8 kHz."""
    total = int(RATE * (NOTE_S * len(NOTES_HZ) + TAIL_S))
    out = np.zeros(total)
    t = np.arange(int(RATE * NOTE_S * 1.5)) / RATE
    envelope = np.minimum(1.0, t / 0.02) * np.exp(-t * 4.0)  # soft attack, bell-like decay
    for index, hz in enumerate(NOTES_HZ):
        note = envelope * (np.sin(2 * np.pi * hz * t) + 0.25 * np.sin(2 * np.pi * 2 * hz * t))
        start = int(index * NOTE_S * RATE)
        end = min(total, start + len(note))
        out[start:end] += note[: end - start]
    out *= LEVEL * 32767 / np.max(np.abs(out))
    return out.astype("<i2").tobytes()


def write_hold_tone(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(hold_tone_pcm())


if __name__ == "__main__":
    write_hold_tone(Path(sys.argv[1] if len(sys.argv) > 1 else "content/media/hold_tone.wav"))
