"""Real synthesis through pyttsx3/espeak-ng, its disk cache, and recorded prompt overrides."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from voice.audio import decode_bytes
from voice.errors import TTSError
from voice.pcm import read_wav, rms_dbfs
from voice.prompts import PromptPlayer, prompt_audio
from voice.tts import Pyttsx3Engine, TtsEngine
from voice_helpers import run_tool

SENTENCE = "您好，欢迎致电客服中心，请问有什么可以帮您？"


@pytest.fixture
def engine(settings) -> Pyttsx3Engine:
    return Pyttsx3Engine.from_settings(settings)


@pytest.mark.parametrize("rate", [8000, 16000])
async def test_synthesises_chinese_speech(engine: Pyttsx3Engine, rate: int):
    wav = await engine.synthesize(SENTENCE, sample_rate=rate)

    pcm = decode_bytes(wav, "wav", target_rate=rate)  # a valid WAV any decoder accepts
    assert read_wav(wav).sample_rate == rate
    assert pcm.duration > 0.5
    assert rms_dbfs(pcm.samples) > -40


async def test_second_call_is_served_from_the_disk_cache(engine: Pyttsx3Engine, settings):
    first = await engine.synthesize(SENTENCE, 8000)
    assert (engine.cache_hits, engine.cache_misses) == (0, 1)
    assert engine.cache_path(SENTENCE, 8000).read_bytes() == first

    again = await engine.synthesize(SENTENCE, 8000)
    fresh_process_engine = Pyttsx3Engine.from_settings(settings)
    from_disk = await fresh_process_engine.synthesize(SENTENCE, 8000)

    assert again == first == from_disk
    assert (engine.cache_hits, fresh_process_engine.cache_hits) == (1, 1)
    assert fresh_process_engine.cache_misses == 0


def test_cache_key_covers_text_voice_rate_and_sample_rate(settings):
    base = Pyttsx3Engine("sit/cmn-Latn-pinyin", 170, settings.tts_cache_dir)
    other_voice = Pyttsx3Engine("sit/cmn", 170, settings.tts_cache_dir)
    other_rate = Pyttsx3Engine("sit/cmn-Latn-pinyin", 120, settings.tts_cache_dir)
    keys = {base.cache_path("你好", 8000), base.cache_path("你好", 16000),
            base.cache_path("您好", 8000), other_voice.cache_path("你好", 8000),
            other_rate.cache_path("你好", 8000)}
    assert len(keys) == 5


async def test_concurrent_requests_share_the_single_worker(engine: Pyttsx3Engine):
    texts = ["查询订单", "人工服务", "退出"]
    wavs = await asyncio.gather(*(engine.synthesize(t, 16000) for t in texts))
    assert all(read_wav(w).duration > 0.3 for w in wavs)
    assert len(set(wavs)) == 3


async def test_unknown_voice_fails_clearly_and_does_not_poison_the_worker(settings):
    broken = Pyttsx3Engine("no-such-voice", 170, settings.tts_cache_dir)
    with pytest.raises(TTSError, match="no-such-voice"):
        await broken.synthesize("你好", 8000)
    working = Pyttsx3Engine.from_settings(settings)
    assert read_wav(await working.synthesize("你好", 8000)).duration > 0.2


async def test_empty_text_is_an_error(engine: Pyttsx3Engine):
    with pytest.raises(TTSError):
        await engine.synthesize("   ", 8000)


class RecordingTts(TtsEngine):
    """Test double: remembers what it was asked to say."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, int]] = []

    async def synthesize(self, text: str, sample_rate: int = 8000) -> bytes:
        self.requests.append((text, sample_rate))
        return b"tts:" + text.encode()


async def test_recorded_prompt_overrides_tts(settings, first_clip: Path):
    settings.prompts_dir.mkdir(parents=True)
    # An editor's recording in whatever layout their tool wrote: 44.1 kHz stereo.
    run_tool("ffmpeg", "-i", first_clip, "-ar", "44100", "-ac", "2",
             settings.prompts_dir / "welcome.wav")
    tts = RecordingTts()
    player = PromptPlayer.from_settings(settings, tts=tts)

    recorded = await prompt_audio("welcome", SENTENCE, 8000, player=player)
    synthetic = await player.audio("goodbye", "再见", 16000)

    wav = read_wav(recorded)
    assert wav.sample_rate == 8000
    assert wav.duration == pytest.approx(read_wav(first_clip).duration, abs=0.05)
    assert synthetic == "tts:再见".encode()
    assert tts.requests == [("再见", 16000)]


async def test_prompt_ids_cannot_escape_the_prompts_dir(settings):
    player = PromptPlayer.from_settings(settings, tts=RecordingTts())
    for bad_id in ("../secrets", "/etc/passwd", "a/b", ""):
        with pytest.raises(ValueError):
            await player.audio(bad_id, "x", 8000)



async def test_a_caller_giving_up_leaves_the_file_to_espeak_until_it_is_done(tmp_path, monkeypatch):
    """A hung-up call cancels its prompt mid-synthesis; removing the half-written file then
    broke the shared espeak engine for every later call. The file now outlives the job."""
    from concurrent.futures import Future

    from voice import tts

    running = Future()
    running.set_running_or_notify_cancel()  # the worker has started on it: cannot be cancelled
    targets = []

    class Worker:
        def submit(self, text, voice, rate, target):
            targets.append(target)
            return running

    monkeypatch.setattr(tts, "_speech_worker", lambda: Worker())
    engine = tts.Pyttsx3Engine("sit/cmn-Latn-pinyin", 170, tmp_path / "cache")
    task = asyncio.create_task(engine.synthesize("正在合成的时候客户挂断了。", 8000))
    while not targets:
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert targets[0].is_file(), "the work file must stay while espeak may still write"
    running.set_result(targets[0])
    assert not targets[0].exists()


async def test_a_long_cd_quality_recording_is_played_whole(settings):
    # A 70 s announcement recorded at 44.1 kHz stereo is 12 MB: over the 10 MB limit for uploads, it
    # was refused and the caller heard nothing in its place.
    import wave

    import numpy as np

    settings.prompts_dir.mkdir(parents=True)
    seconds = 70
    t = np.arange(44100 * seconds) / 44100
    channel = (np.sin(2 * np.pi * 440 * t) * 8000).astype("<i2")
    with wave.open(str(settings.prompts_dir / "announcement.wav"), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(44100)
        out.writeframes(np.column_stack([channel, channel]).tobytes())
    player = PromptPlayer.from_settings(settings, tts=Pyttsx3Engine.from_settings(settings))
    played = read_wav(await player.audio("announcement", SENTENCE, 8000))
    assert played.sample_rate == 8000 and played.duration == pytest.approx(seconds, abs=0.05)


async def test_an_unusable_recording_is_replaced_by_the_prompts_text_not_silence(settings):
    settings.prompts_dir.mkdir(parents=True)
    (settings.prompts_dir / "welcome.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk")  # cut short by a bad copy
    engine = Pyttsx3Engine.from_settings(settings)
    player = PromptPlayer.from_settings(settings, tts=engine)
    heard = read_wav(await player.audio("welcome", SENTENCE, 8000))
    spoken = read_wav(await engine.synthesize(SENTENCE, 8000))
    assert heard == spoken and heard.duration > 1 and rms_dbfs(heard.samples) > -40
