"""In-process resampling of synthesised speech: same duration, same pitch, nothing folded back."""
from __future__ import annotations

import math
import struct

from voice.pcm import rms_dbfs
from voice.resample import resample_pcm


def tone(hz: float, rate: int, seconds: float = 0.5, level: float = 0.5) -> bytes:
    count = int(rate * seconds)
    return struct.pack(f"<{count}h", *(int(32767 * level * math.sin(2 * math.pi * hz * i / rate)) for i in range(count)))


def dominant_hz(pcm: bytes, rate: int) -> float:
    """Zero crossings per second / 2: enough to tell 1 kHz from an alias."""
    samples = struct.unpack(f"<{len(pcm) // 2}h", pcm)
    crossings = sum(1 for a, b in zip(samples, samples[1:]) if (a < 0) != (b < 0))
    return crossings / 2 / (len(samples) / rate)


def test_espeak_rate_to_the_phone_keeps_duration_and_pitch():
    out = resample_pcm(tone(1000, 22050), 22050, 8000)
    assert abs(len(out) / 2 / 8000 - 0.5) < 0.01
    assert abs(dominant_hz(out, 8000) - 1000) < 20
    assert rms_dbfs(out) > -12  # the level survives


def test_sound_above_the_phone_band_is_filtered_not_aliased():
    """A 6 kHz whistle cannot be carried at 8 kHz; unfiltered it would come back as 2 kHz."""
    out = resample_pcm(tone(6000, 22050), 22050, 8000)
    assert rms_dbfs(out[800:-800]) < -40


def test_same_rate_and_empty_input_pass_through():
    pcm = tone(440, 8000)
    assert resample_pcm(pcm, 8000, 8000) == pcm
    assert resample_pcm(b"", 22050, 8000) == b""
