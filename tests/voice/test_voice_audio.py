"""Decoding real speech from every supported format, the PCM helpers, and every bad input."""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from voice.audio import (
    AudioLimits,
    decode_bytes,
    decode_file,
    format_from_name,
    pcm_to_wav_bytes,
    phone_frames,
    rms_dbfs,
    wav_duration,
)
from voice.errors import AudioError
from voice.pcm import MULAW_FRAME_BYTES, alaw_decode, alaw_encode, mulaw_decode, mulaw_encode
from voice_helpers import envelope, run_tool

# (format, how to make it from a 16 kHz WAV clip, decode kwargs, target rate)
# Targets alternate so both up- and down-sampling paths are exercised.
CONVERSIONS = {
    "wav": (["ffmpeg", "-i", "{src}", "-ar", "8000", "{dst}.wav"], {}, 16000),
    "pcm": (["ffmpeg", "-i", "{src}", "-f", "s16le", "{dst}.pcm"], {"source_rate": 16000}, 8000),
    "mulaw": (["ffmpeg", "-i", "{src}", "-ar", "8000", "-f", "mulaw", "{dst}.ul"], {}, 16000),
    "alaw": (["ffmpeg", "-i", "{src}", "-ar", "8000", "-f", "alaw", "{dst}.al"], {}, 8000),
    "amr": (["sox", "{src}", "-r", "8000", "-c", "1", "-t", "amr-nb", "{dst}.amr"], {}, 16000),
    "mp3": (["ffmpeg", "-i", "{src}", "-c:a", "libmp3lame", "{dst}.mp3"], {}, 8000),
    "ogg": (["ffmpeg", "-i", "{src}", "-c:a", "libvorbis", "{dst}.ogg"], {}, 16000),
}


def _convert(clip: Path, fmt: str, workdir: Path) -> Path:
    command, _, _ = CONVERSIONS[fmt]
    args = [part.format(src=clip, dst=workdir / clip.stem) for part in command]
    run_tool(*args)
    return Path(args[-1])


@pytest.mark.parametrize("fmt", sorted(CONVERSIONS))
def test_decodes_real_speech_from_every_format(clip: Path, fmt: str, tmp_path: Path):
    _, kwargs, target_rate = CONVERSIONS[fmt]
    original = decode_file(clip, target_rate=target_rate)

    decoded = decode_file(_convert(clip, fmt, tmp_path), target_rate=target_rate, **kwargs)

    assert decoded.sample_rate == target_rate
    assert decoded.duration == pytest.approx(original.duration, abs=0.1)
    # Same speech, not just the same length: the level contour follows the original.
    a, b = envelope(original.samples, target_rate), envelope(decoded.samples, target_rate)
    n = min(len(a), len(b))
    assert np.corrcoef(a[:n], b[:n])[0, 1] > 0.9
    assert rms_dbfs(decoded.samples) == pytest.approx(rms_dbfs(original.samples), abs=3)


def test_decode_bytes_matches_decode_file(first_clip: Path):
    from_file = decode_file(first_clip, target_rate=8000)
    from_bytes = decode_bytes(first_clip.read_bytes(), "wav", target_rate=8000)
    assert from_bytes == from_file


def test_wav_helpers_round_trip(first_clip: Path):
    pcm = decode_file(first_clip, target_rate=16000)
    wav = pcm_to_wav_bytes(pcm.samples, 16000)
    assert wav_duration(wav) == pytest.approx(pcm.duration)
    assert wav_duration(first_clip) == pytest.approx(pcm.duration, abs=0.01)


def test_rms_dbfs_levels():
    full_scale_square = np.tile(np.array([32767, -32767], dtype="<i2"), 800).tobytes()
    assert rms_dbfs(full_scale_square) == pytest.approx(0, abs=0.01)
    assert rms_dbfs((np.ones(1600, dtype="<i2") * 328).tobytes()) == pytest.approx(-40, abs=0.1)
    assert rms_dbfs(bytes(3200)) == float("-inf")
    assert rms_dbfs(b"") == float("-inf")


def test_g711_helpers_round_trip_within_quantisation(first_clip: Path):
    pcm = decode_file(first_clip, target_rate=8000).samples
    for encode, decode in ((mulaw_encode, mulaw_decode), (alaw_encode, alaw_decode)):
        coded = encode(pcm)
        assert len(coded) == len(pcm) // 2
        restored = np.frombuffer(decode(coded), dtype="<i2").astype(float)
        original = np.frombuffer(pcm, dtype="<i2").astype(float)
        snr = 10 * np.log10((original ** 2).sum() / ((original - restored) ** 2).sum())
        assert snr > 25


def test_phone_frames_are_20ms_mulaw(first_clip: Path):
    pcm = decode_file(first_clip, target_rate=8000).samples
    pcm = pcm[: len(pcm) // 320 * 320 + 200]  # 100 real samples in the last frame
    frames = phone_frames(pcm)
    assert all(len(frame) == MULAW_FRAME_BYTES == 160 for frame in frames)
    assert len(frames) == len(pcm) // 320 + 1
    assert b"".join(frames)[: len(pcm) // 2] == mulaw_encode(pcm)
    assert set(frames[-1][100:]) == {mulaw_encode(bytes(2))[0]}  # padded with μ-law silence


def test_format_from_name():
    assert format_from_name("voice.AMR") == "amr"
    assert format_from_name(Path("call.ul")) == "mulaw"
    assert format_from_name("message.opus") == "ogg"


# --- one fixture per bad input, each with the reason it must produce -------------------------

def _random_bytes(n: int) -> bytes:
    return random.Random(1234).randbytes(n)


BAD_INPUTS = {
    "empty": (lambda clip: (b"", "wav", {}), "empty"),
    "truncated-wav-header": (lambda clip: (clip.read_bytes()[:30], "wav", {}), "corrupt"),
    "header-only-wav": (lambda clip: (clip.read_bytes()[:44], "wav", {}), "empty"),
    "random-bytes-as-mp3": (lambda clip: (_random_bytes(20000), "mp3", {}), "corrupt"),
    "random-bytes-as-ogg": (lambda clip: (_random_bytes(20000), "ogg", {}), "corrupt"),
    "random-bytes-as-amr": (lambda clip: (_random_bytes(20000), "amr", {}), "corrupt"),
    "over-size-limit": (lambda clip: (clip.read_bytes(), "wav",
                                      {"limits": AudioLimits(max_bytes=10_000)}), "too_big"),
    "over-duration-limit": (lambda clip: (clip.read_bytes(), "wav",
                                          {"limits": AudioLimits(max_seconds=2.0)}), "too_long"),
    "raw-pcm-over-duration-limit": (lambda clip: (bytes(16000 * 2 * 3), "pcm", {
        "source_rate": 16000, "limits": AudioLimits(max_seconds=2.0)}), "too_long"),
    "unsupported-format-name": (lambda clip: (clip.read_bytes(), "flac", {}), "unsupported"),
    "raw-pcm-without-rate": (lambda clip: (bytes(3200), "pcm", {}), "unsupported"),
    "unsupported-target-rate": (lambda clip: (clip.read_bytes(), "wav",
                                              {"target_rate": 44100}), "unsupported"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_audio_is_rejected_with_its_reason(case: str, first_clip: Path):
    build, reason = BAD_INPUTS[case]
    data, fmt, kwargs = build(first_clip)
    with pytest.raises(AudioError) as error:
        decode_bytes(data, fmt, **kwargs)
    assert error.value.reason == reason
    assert "\n" not in str(error.value)


def test_file_over_size_limit_is_rejected_before_reading(tmp_path: Path):
    big = tmp_path / "big.mp3"
    with big.open("wb") as handle:
        handle.truncate(11 * 1024 * 1024)  # sparse: over the default 10 MB limit
    with pytest.raises(AudioError) as error:
        decode_file(big)
    assert error.value.reason == "too_big"


def test_long_compressed_file_is_rejected_without_decoding_it_all(tmp_path: Path):
    long_mp3 = tmp_path / "long.mp3"
    run_tool("ffmpeg", "-f", "lavfi", "-i", "sine=frequency=440:duration=200", "-ac", "1",
             "-b:a", "16k", long_mp3)
    with pytest.raises(AudioError) as error:
        decode_file(long_mp3)
    assert error.value.reason == "too_long"


def test_missing_file_and_unknown_extension(tmp_path: Path):
    with pytest.raises(AudioError) as missing:
        decode_file(tmp_path / "nope.wav")
    assert "nope.wav" in str(missing.value)
    with pytest.raises(AudioError) as unknown:
        decode_file(tmp_path / "voice.xyz")
    assert unknown.value.reason == "unsupported"
