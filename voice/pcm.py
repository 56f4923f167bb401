"""In-memory helpers for mono 16-bit little-endian PCM, the one format the voice layer passes around.

Telephony speaks G.711 (8 kHz μ-law, 20 ms = 160-byte frames); ASR and VAD want linear PCM.
These helpers convert between them without subprocesses. ``audioop`` is in the standard
library up to Python 3.12, which covers the project's Python 3.10 pin.
"""
from __future__ import annotations

import audioop
import io
import math
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from voice.errors import AudioError

SAMPLE_WIDTH = 2  # bytes per sample: s16le everywhere
SUPPORTED_RATES = (8000, 16000)
PHONE_RATE = 8000
PHONE_FRAME_MS = 20
MULAW_FRAME_BYTES = PHONE_RATE * PHONE_FRAME_MS // 1000  # 160: one byte per sample


@dataclass(frozen=True)
class Pcm:
    """Mono s16le samples and their rate; what every decoder returns."""

    samples: bytes
    sample_rate: int

    @property
    def duration(self) -> float:
        return len(self.samples) / (SAMPLE_WIDTH * self.sample_rate)

    def to_wav(self) -> bytes:
        return pcm_to_wav_bytes(self.samples, self.sample_rate)


def check_rate(sample_rate: int) -> int:
    """Reject rates the voice layer does not produce (phone 8 kHz, ASR 16 kHz)."""
    if sample_rate not in SUPPORTED_RATES:
        raise AudioError(
            f"unsupported sample rate {sample_rate} Hz; expected one of {SUPPORTED_RATES}",
            reason="unsupported",
        )
    return sample_rate


def pcm_to_wav_bytes(pcm: bytes, sample_rate: int) -> bytes:
    """Wrap mono s16le samples in a WAV container."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(SAMPLE_WIDTH)
        wav.setframerate(sample_rate)
        wav.writeframes(pcm)
    return buffer.getvalue()


def read_wav(wav: bytes | Path) -> Pcm:
    """Read a mono 16-bit PCM WAV (what this layer writes); anything else is an AudioError."""
    try:
        source = io.BytesIO(wav) if isinstance(wav, (bytes, bytearray)) else open(wav, "rb")
        with source, wave.open(source, "rb") as reader:
            if reader.getnchannels() != 1 or reader.getsampwidth() != SAMPLE_WIDTH:
                raise AudioError("WAV is not mono 16-bit PCM; decode it with voice.audio first",
                                 reason="unsupported")
            return Pcm(reader.readframes(reader.getnframes()), reader.getframerate())
    except (wave.Error, EOFError) as exc:
        raise AudioError(f"not a readable WAV file: {exc}") from exc


def wav_duration(wav: bytes | Path) -> float:
    """Duration in seconds of a mono 16-bit PCM WAV."""
    return read_wav(wav).duration


def rms_dbfs(pcm: bytes) -> float:
    """RMS level relative to full scale; ``-inf`` for digital silence or no samples."""
    usable = pcm[: len(pcm) - len(pcm) % SAMPLE_WIDTH]
    rms = audioop.rms(usable, SAMPLE_WIDTH) if usable else 0
    return 20 * math.log10(rms / 32768) if rms else float("-inf")


def mulaw_encode(pcm: bytes) -> bytes:
    return audioop.lin2ulaw(pcm, SAMPLE_WIDTH)


def mulaw_decode(ulaw: bytes) -> bytes:
    return audioop.ulaw2lin(ulaw, SAMPLE_WIDTH)


def alaw_encode(pcm: bytes) -> bytes:
    return audioop.lin2alaw(pcm, SAMPLE_WIDTH)


def alaw_decode(alaw: bytes) -> bytes:
    return audioop.alaw2lin(alaw, SAMPLE_WIDTH)


def iter_frames(pcm: bytes, sample_rate: int, frame_ms: int) -> Iterator[bytes]:
    """Whole ``frame_ms`` frames of ``pcm``; a trailing partial frame is dropped."""
    size = frame_bytes(sample_rate, frame_ms)
    for offset in range(0, len(pcm) - size + 1, size):
        yield pcm[offset : offset + size]


def frame_bytes(sample_rate: int, frame_ms: int) -> int:
    return sample_rate * frame_ms // 1000 * SAMPLE_WIDTH


def phone_frames(pcm_8k: bytes) -> list[bytes]:
    """8 kHz PCM as 20 ms μ-law frames of 160 bytes, the last one padded with silence."""
    size = frame_bytes(PHONE_RATE, PHONE_FRAME_MS)
    remainder = len(pcm_8k) % size
    if remainder:
        pcm_8k += b"\x00" * (size - remainder)
    return [mulaw_encode(frame) for frame in iter_frames(pcm_8k, PHONE_RATE, PHONE_FRAME_MS)]
