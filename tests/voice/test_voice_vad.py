"""Endpointing on real speech padded with silence and low-level white noise."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from voice.audio import decode_file
from voice.errors import AudioError
from voice.vad import (
    SPEECH_END,
    SPEECH_START,
    EndpointDetector,
    VadConfig,
    find_speech_segments,
    find_speech_span,
)
from voice_helpers import envelope, samples

PAD_SECONDS = 1.0
NOISE_DBFS = -50.0
TOLERANCE = 0.3


def reference_span(pcm: bytes, rate: int) -> tuple[float, float]:
    """Speech span by plain energy (independent of webrtcvad): 30 ms above a floor/peak threshold."""
    db = envelope(pcm, rate, frame_ms=10)
    threshold = max(np.percentile(db, 10) + 10, np.percentile(db, 99) - 35)
    active = db > threshold
    runs = [i for i in range(len(active) - 2) if active[i : i + 3].all()]
    return runs[0] * 0.01, (runs[-1] + 3) * 0.01


def noise(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 32768 * 10 ** (NOISE_DBFS / 20), n)


def to_pcm(x: np.ndarray) -> bytes:
    return np.clip(np.round(x), -32768, 32767).astype("<i2").tobytes()


def padded_speech(clip: Path, rate: int) -> tuple[bytes, float]:
    """The clip trimmed to its speech, 1 s of silence each side, white noise over it all."""
    pcm = decode_file(clip, target_rate=rate).samples
    start, end = reference_span(pcm, rate)
    speech = samples(pcm)[int(start * rate) : int(end * rate)]
    pad = np.zeros(int(PAD_SECONDS * rate))
    signal = np.concatenate([pad, speech, pad])
    return to_pcm(signal + noise(len(signal), seed=len(speech))), len(speech) / rate


@pytest.mark.parametrize("rate", [8000, 16000])
def test_finds_speech_between_the_padding(clip: Path, rate: int):
    pcm, speech_seconds = padded_speech(clip, rate)

    span = find_speech_span(pcm, rate)

    assert span is not None
    assert span[0] == pytest.approx(PAD_SECONDS, abs=TOLERANCE)
    assert span[1] == pytest.approx(PAD_SECONDS + speech_seconds, abs=TOLERANCE)


def test_streaming_phone_frames_give_one_start_then_one_end(first_clip: Path):
    pcm, speech_seconds = padded_speech(first_clip, 8000)
    config = VadConfig(frame_ms=20, start_ms=300, end_ms=700)
    detector = EndpointDetector(8000, config)

    events = []
    for offset in range(0, len(pcm), 320):  # 20 ms at 8 kHz, as the phone delivers it
        events += detector.feed(pcm[offset : offset + 320])
    events += detector.finish()

    assert [e.kind for e in events] == [SPEECH_START, SPEECH_END]
    start, end = events
    # Detection lags the boundary by about the hangover, never precedes it.
    assert 0.2 <= start.detected_at - start.at <= 0.3 + 0.02 + 0.2
    assert 0.6 <= end.detected_at - end.at <= 0.7 + 0.02 + 0.1
    assert end.at == pytest.approx(PAD_SECONDS + speech_seconds, abs=TOLERANCE)


def test_chunking_does_not_change_the_events(first_clip: Path):
    pcm, _ = padded_speech(first_clip, 16000)
    whole = EndpointDetector(16000)
    expected = whole.feed(pcm) + whole.finish()
    chunked = EndpointDetector(16000)
    got = []
    for offset in range(0, len(pcm), 333):  # odd sizes: frames straddle calls
        got += chunked.feed(pcm[offset : offset + 333])
    got += chunked.finish()
    assert got == expected and len(got) == 2


def test_finish_closes_speech_still_open_at_end_of_stream(first_clip: Path):
    pcm = decode_file(first_clip, target_rate=16000).samples
    start, end = reference_span(pcm, 16000)
    cut = samples(pcm)[: int((start + end) / 2 * 16000)]  # stop mid-sentence
    detector = EndpointDetector(16000)
    events = detector.feed(to_pcm(cut))
    assert [e.kind for e in events] == [SPEECH_START] and detector.in_speech
    closing = detector.finish()
    assert [e.kind for e in closing] == [SPEECH_END]
    assert closing[0].at == pytest.approx(len(cut) / 16000, abs=0.1)
    assert not detector.in_speech


@pytest.mark.parametrize("rate", [8000, 16000])
def test_noise_and_silence_alone_are_not_speech(rate: int):
    silence_then_noise = np.concatenate([np.zeros(rate), noise(3 * rate, seed=rate)])
    assert find_speech_span(to_pcm(silence_then_noise), rate) is None


def test_end_hangover_is_configurable(speech_dir: Path, transcripts: dict[str, str]):
    names = sorted(transcripts)[:2]
    parts = []
    for name in names:
        pcm = decode_file(speech_dir / name, target_rate=16000).samples
        start, end = reference_span(pcm, 16000)
        parts.append(samples(pcm)[int(start * 16000) : int(end * 16000)])
    gap = np.zeros(int(0.5 * 16000))  # a 500 ms pause between two sentences
    signal = np.concatenate([np.zeros(16000), parts[0], gap, parts[1], np.zeros(16000)])
    pcm = to_pcm(signal + noise(len(signal), seed=3))

    assert len(find_speech_segments(pcm, 16000)) == 1  # 700 ms hangover bridges the pause
    assert len(find_speech_segments(pcm, 16000, VadConfig(end_ms=240))) == 2


def test_rejects_bad_configuration():
    with pytest.raises(ValueError):
        VadConfig(frame_ms=25)
    with pytest.raises(ValueError):
        VadConfig(aggressiveness=4)
    with pytest.raises(AudioError):
        EndpointDetector(44100)
