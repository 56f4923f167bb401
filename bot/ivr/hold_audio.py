"""Hold audio as ready-to-send frames: read and μ-law encoded once per file version, not per loop.

The file is editor-owned (``content/ivr.yml`` → ``hold.audio``), any WAV: mono 16-bit is read in
process, any other layout (stereo music, 24-bit) is decoded with ffmpeg, as recorded prompts are. It is
resampled to the phone rate if needed and cut into 20 ms frames of base64 μ-law, which the
playback loop only wraps in the stream's ``media`` message. A missing or unreadable file is
logged and gives no frames: callers then wait in silence rather than the call failing.
"""
from __future__ import annotations

import base64
import errno
import logging
import os
from functools import lru_cache
from pathlib import Path

from bot import file_change
from voice.audio import AudioLimits, decode_file
from voice.errors import AudioError, VoiceError
from voice.pcm import PHONE_FRAME_MS, PHONE_RATE, frame_bytes, mulaw_encode, read_wav
from voice.resample import resample_pcm

logger = logging.getLogger(__name__)

_FRAME = frame_bytes(PHONE_RATE, PHONE_FRAME_MS)
_LOOP_LIMITS = AudioLimits(max_bytes=200 * 1024 * 1024, max_seconds=600.0)  # a 10-minute loop of CD audio


_seen: dict[str, file_change.Seen] = {}  # each hold file as this process last looked at it (bot/file_change.py)


def hold_frames(path: str) -> tuple[str, ...]:
    """The loop's frames (base64 μ-law payloads); () when the file cannot be used."""
    try:
        seen, _ = file_change.look(Path(path), _seen.get(path))
        if seen.stamp == file_change.MISSING:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)
    except OSError as exc:
        logger.warning("ivr.hold_audio.missing path=%s error=%s", path, exc.strerror)
        return ()
    _seen[path] = seen
    return _encoded(str(path), seen.digest)


@lru_cache(maxsize=8)
def _encoded(path: str, _digest: bytes) -> tuple[str, ...]:
    try:
        try:
            wav = read_wav(Path(path))
        except AudioError:  # stereo, 24-bit, float or WAVE_FORMAT_EXTENSIBLE: Python's wave reads none of them
            wav = decode_file(path, "wav", target_rate=PHONE_RATE, limits=_LOOP_LIMITS)
    except (VoiceError, OSError, ValueError) as exc:
        logger.warning("ivr.hold_audio.unreadable path=%s error=%s", path, exc)
        return ()
    # Band-limited, like synthesised replies: music folded down to 8 kHz without an
    # anti-aliasing filter hisses on the line.
    pcm = resample_pcm(wav.samples, wav.sample_rate, PHONE_RATE)
    pcm = pcm[: len(pcm) - len(pcm) % _FRAME]
    return tuple(base64.b64encode(mulaw_encode(pcm[i:i + _FRAME])).decode("ascii")
                 for i in range(0, len(pcm), _FRAME))
