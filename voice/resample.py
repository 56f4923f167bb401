"""Band-limited resampling in process, for audio that is already mono 16-bit PCM.

Synthesised replies come out of espeak-ng at 22.05 kHz and must reach the phone at 8 kHz.
Resampling them through an ffmpeg subprocess (``voice.audio.resample``) cost 110-200 ms per
reply on a loaded machine, most of it starting the process — time the caller hears as silence
before the first word (bench/RESULTS.md, issue #17). scipy's polyphase filter
(``scipy.signal.resample_poly``: FIR anti-aliasing, Kaiser window) does the same job in a few
milliseconds; scipy is already installed as a dependency of Rasa.
"""
from __future__ import annotations

from math import gcd

import numpy as np
from scipy.signal import resample_poly

from voice.pcm import SAMPLE_WIDTH


def resample_pcm(pcm: bytes, source_rate: int, target_rate: int) -> bytes:
    """Mono s16le ``pcm`` from ``source_rate`` to ``target_rate``, band-limited, clipped to 16 bits."""
    if source_rate == target_rate or not pcm:
        return pcm
    samples = np.frombuffer(pcm[: len(pcm) - len(pcm) % SAMPLE_WIDTH], dtype="<i2").astype(np.float64)
    common = gcd(source_rate, target_rate)
    resampled = resample_poly(samples, target_rate // common, source_rate // common)
    return np.clip(np.rint(resampled), -32768, 32767).astype("<i2").tobytes()
