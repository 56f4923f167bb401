"""Decode whatever a channel receives into mono s16le PCM at 8 or 16 kHz.

Voice messages arrive as AMR (WeChat), MP3/OGG (web, apps), WAV, raw PCM or G.711 (phone).
ffmpeg does the container formats and all resampling; AMR goes through sox because Debian's
sox encodes AMR with DTX, whose silence frames ffmpeg's decoder drops (see shared README).
Subprocesses get argument lists only, and inputs go through a temp file unique to the call.
Every failure is an :class:`AudioError` whose ``reason`` says what went wrong.

The PCM helpers (``pcm_to_wav_bytes``, ``wav_duration``, ``rms_dbfs``, μ-law/A-law) live in
:mod:`voice.pcm` and are re-exported here.
"""
from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from voice.errors import AudioError
from voice.pcm import (  # re-exported: callers need one import for audio handling
    MULAW_FRAME_BYTES,
    SAMPLE_WIDTH,
    SUPPORTED_RATES,
    Pcm,
    alaw_decode,
    alaw_encode,
    check_rate,
    mulaw_decode,
    mulaw_encode,
    pcm_to_wav_bytes,
    phone_frames,
    rms_dbfs,
    wav_duration,
)

__all__ = [
    "DEFAULT_LIMITS", "FORMATS", "MULAW_FRAME_BYTES", "SUPPORTED_RATES", "AudioLimits", "Pcm",
    "alaw_decode", "alaw_encode", "decode_bytes", "decode_file", "format_from_name",
    "mulaw_decode", "mulaw_encode", "pcm_to_wav_bytes", "phone_frames", "resample", "rms_dbfs",
    "wav_duration",
]

logger = logging.getLogger(__name__)

FORMATS = ("wav", "pcm", "mulaw", "alaw", "amr", "mp3", "ogg")
_FFMPEG_DEMUXERS = {"wav": "wav", "mp3": "mp3", "ogg": "ogg"}
_EXTENSIONS = {
    ".wav": "wav", ".pcm": "pcm", ".raw": "pcm", ".s16": "pcm",
    ".ul": "mulaw", ".ulaw": "mulaw", ".mulaw": "mulaw", ".mu": "mulaw",
    ".al": "alaw", ".alaw": "alaw", ".amr": "amr", ".mp3": "mp3",
    ".ogg": "ogg", ".oga": "ogg", ".opus": "ogg",
}
_G711_RATE = 8000
_AMR_MAGIC = b"#!AMR\n"
# Speech bytes after each AMR-NB frame header, by frame type (RFC 4867 §5.3); 9-14 do not
# occur in AMR-NB files, and sox spins forever on them instead of failing, so they are refused.
_AMR_FRAME_BYTES = {0: 12, 1: 13, 2: 15, 3: 17, 4: 19, 5: 20, 6: 26, 7: 31, 8: 5, 15: 0}
_SUBPROCESS_TIMEOUT = 60


@dataclass(frozen=True)
class AudioLimits:
    """Upper bounds checked before and after decoding, so a hostile upload costs little."""

    max_bytes: int = 10 * 1024 * 1024
    max_seconds: float = 120.0


DEFAULT_LIMITS = AudioLimits()


def format_from_name(path: str | Path) -> str:
    """Our format name for a file name's extension."""
    suffix = Path(path).suffix.lower()
    try:
        return _EXTENSIONS[suffix]
    except KeyError:
        raise AudioError(f"unsupported audio file type {suffix or '(none)'!r}; "
                         f"expected one of {sorted(_EXTENSIONS)}", reason="unsupported") from None


def decode_file(path: str | Path, fmt: str | None = None, *, target_rate: int = 16000,
                source_rate: int | None = None, limits: AudioLimits = DEFAULT_LIMITS) -> Pcm:
    """Decode an audio file; ``fmt`` defaults to the one its extension names."""
    path = Path(path)
    fmt = fmt or format_from_name(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise AudioError(f"cannot read audio file {path}: {exc.strerror}", reason="unsupported") from exc
    _check_size(size, limits)
    return decode_bytes(path.read_bytes(), fmt, target_rate=target_rate,
                        source_rate=source_rate, limits=limits)


def decode_bytes(data: bytes, fmt: str, *, target_rate: int = 16000, source_rate: int | None = None,
                 limits: AudioLimits = DEFAULT_LIMITS) -> Pcm:
    """Decode ``data`` in format ``fmt`` (one of :data:`FORMATS`) to mono s16le at ``target_rate``.

    ``source_rate`` is required for raw ``pcm`` and defaults to 8000 for ``mulaw``/``alaw``;
    container formats carry their own rate.
    """
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise AudioError(f"unsupported audio format {fmt!r}; expected one of {FORMATS}",
                         reason="unsupported")
    check_rate(target_rate)
    _check_size(len(data), limits)
    if fmt in ("pcm", "mulaw", "alaw"):
        pcm = _decode_linear(data, fmt, source_rate, target_rate, limits)
    else:
        pcm = _decode_container(data, fmt, target_rate, limits)
    if not pcm.samples:
        raise AudioError(f"{fmt} input decoded to no audio", reason="empty")
    if pcm.duration > limits.max_seconds:
        raise AudioError(f"audio longer than {limits.max_seconds:g} s", reason="too_long")
    return pcm


def resample(pcm: bytes, source_rate: int, target_rate: int) -> bytes:
    """Resample mono s16le with ffmpeg's resampler (band-limited, unlike ``audioop.ratecv``)."""
    if source_rate == target_rate or not pcm:
        return pcm
    args = ["-f", "s16le", "-ar", str(source_rate), "-ac", "1", "-i", "pipe:0"]
    return _run_ffmpeg(args, target_rate, None, "pcm", stdin=pcm)


def _check_size(size: int, limits: AudioLimits) -> None:
    if size == 0:
        raise AudioError("audio input is empty", reason="empty")
    if size > limits.max_bytes:
        raise AudioError(f"audio input is {size} bytes, over the {limits.max_bytes}-byte limit",
                         reason="too_big")


def _decode_linear(data: bytes, fmt: str, source_rate: int | None, target_rate: int,
                   limits: AudioLimits) -> Pcm:
    if fmt == "pcm":
        if source_rate is None:
            raise AudioError("raw PCM needs its sample rate (source_rate)", reason="unsupported")
        linear = data[: len(data) - len(data) % SAMPLE_WIDTH]
    else:
        source_rate = source_rate or _G711_RATE
        linear = mulaw_decode(data) if fmt == "mulaw" else alaw_decode(data)
    if len(linear) / (SAMPLE_WIDTH * source_rate) > limits.max_seconds:
        raise AudioError(f"audio longer than {limits.max_seconds:g} s", reason="too_long")
    return Pcm(resample(linear, source_rate, target_rate), target_rate)


WORK_PREFIX = "kefu-audio-"  # the decoder's work folders in the system temp folder (ffmpeg/sox read files)
# A decode is stopped after _SUBPROCESS_TIMEOUT: a work folder five times that old was left by a process killed
# mid-decode (the tidy pass, every 10 minutes, deletes it: a customer's voice left in /tmp for at most ~15 min).
WORK_LEFTOVER_S = 5.0 * _SUBPROCESS_TIMEOUT


def sweep_work_leftovers(max_age_s: float = WORK_LEFTOVER_S, now: float | None = None) -> int:
    """Delete the decoder's work folders a killed process left in the system temp folder, older than
    ``max_age_s``; how many. Each holds a customer's voice (a WeChat voice message, a voice message)
    as it was uploaded, which no expiry would otherwise reach."""
    cutoff = (time.time() if now is None else now) - max_age_s
    removed = 0
    for folder in Path(tempfile.gettempdir()).glob(f"{WORK_PREFIX}*"):
        try:
            if folder.is_dir() and folder.stat().st_uid == os.getuid() and folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder)
                removed += 1
        except FileNotFoundError:
            pass  # another process's pass, or its decode finishing, got there first
    return removed


def _decode_container(data: bytes, fmt: str, target_rate: int, limits: AudioLimits) -> Pcm:
    # Decode one second past the limit: enough to tell "too long" without decoding hours.
    cap = limits.max_seconds + 1
    with tempfile.TemporaryDirectory(prefix=WORK_PREFIX) as workdir:
        source = Path(workdir) / f"input.{fmt}"
        source.write_bytes(data)
        if fmt == "amr":
            _check_amr_frames(data)
            samples = _run_sox_amr(source, target_rate, cap)
        else:
            args = ["-f", _FFMPEG_DEMUXERS[fmt], "-i", f"file:{source}"]
            samples = _run_ffmpeg(args, target_rate, cap, fmt)
    return Pcm(samples, target_rate)


def _run_ffmpeg(input_args: list[str], target_rate: int, cap: float | None, fmt: str,
                stdin: bytes | None = None) -> bytes:
    command = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", *input_args,
               "-vn", "-ac", "1", "-ar", str(target_rate), "-c:a", "pcm_s16le", "-f", "s16le"]
    if cap is not None:
        command += ["-t", f"{cap:g}"]
    return _run(command + ["pipe:1"], fmt, stdin)


def _check_amr_frames(data: bytes) -> None:
    """Walk the frame headers of an AMR-NB file (a truncated last frame is fine: sox drops it)."""
    if not data.startswith(_AMR_MAGIC):
        raise AudioError("not an AMR-NB file (no #!AMR header)")
    offset = len(_AMR_MAGIC)
    while offset < len(data):
        frame_type = (data[offset] >> 3) & 0x0F
        if frame_type not in _AMR_FRAME_BYTES:
            raise AudioError(f"cannot decode amr audio: invalid frame type {frame_type} at byte {offset}")
        offset += 1 + _AMR_FRAME_BYTES[frame_type]


def _run_sox_amr(source: Path, target_rate: int, cap: float) -> bytes:
    command = ["sox", "-V1", "-t", "amr-nb", str(source),
               "-t", "raw", "-e", "signed-integer", "-b", "16", "-c", "1", "-r", str(target_rate),
               "-", "trim", "0", f"{cap:g}"]
    return _run(command, "amr", None)


def _run(command: list[str], fmt: str, stdin: bytes | None) -> bytes:
    try:
        completed = subprocess.run(command, input=stdin, capture_output=True,
                                   timeout=_SUBPROCESS_TIMEOUT, check=False)
    except FileNotFoundError as exc:
        raise AudioError(f"{command[0]} is not installed; cannot decode {fmt}",
                         reason="unsupported") from exc
    except subprocess.TimeoutExpired as exc:
        raise AudioError(f"decoding {fmt} took longer than {_SUBPROCESS_TIMEOUT} s") from exc
    if completed.returncode != 0:
        detail = _last_line(completed.stderr)
        logger.info("voice.audio.decode_failed tool=%s format=%s detail=%s", command[0], fmt, detail)
        raise AudioError(f"cannot decode {fmt} audio: {detail or 'decoder failed'}")
    return completed.stdout[: len(completed.stdout) - len(completed.stdout) % SAMPLE_WIDTH]


def _last_line(stderr: bytes) -> str:
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    return lines[-1] if lines else ""
