"""A reply spoken to a caller does not stay in the speech cache past its expiry.

Found by a data-protection audit: ``var/tts-cache/`` kept callers' balances, bills and usage as
audio with no end (named by a hash of the text, so a guessed text could be confirmed). ``kefu run``
deletes cached speech ``KEFU_TTS_CACHE_EXPIRY_SECONDS`` after it was written.
"""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from bot.settings import from_environment
from voice.tts import Pyttsx3Engine, _convert_and_store
from voice.pcm import Pcm


def cached(engine: Pyttsx3Engine, text: str, tmp_path, age_s: float):
    """Write ``text``'s cache entry the way the engine does, ``age_s`` seconds ago."""
    raw = tmp_path / f"raw-{abs(hash(text))}.wav"
    raw.write_bytes(Pcm(b"\x10\x20" * 8000, 8000).to_wav())
    path = engine.cache_path(text, 8000)
    _convert_and_store(raw, 8000, path)
    written = time.time() - age_s
    os.utime(path, (written, written))
    return path


def test_a_personal_reply_is_gone_from_the_speech_cache_after_its_expiry(tmp_path):
    from voice.tts_cache import prune_forever

    settings = from_environment({"KEFU_DATA_DIR": str(tmp_path / "var"), "KEFU_TTS_CACHE_EXPIRY_SECONDS": "3600"})
    engine = Pyttsx3Engine.from_settings(settings)
    balance = cached(engine, "张伟，您当前账户余额 23.50 元。", tmp_path, age_s=3601)
    prompt = cached(engine, "欢迎致电，查询话费请按1。", tmp_path, age_s=60)
    assert balance.is_file() and prompt.is_file()

    stop = threading.Event()
    stop.set()  # one pass, as kefu run makes at start and every 10 minutes after
    prune_forever(settings, stop)
    assert not balance.exists(), "an hour after it was spoken, the caller's balance is gone"
    assert prompt.is_file(), "speech younger than the expiry is kept"


async def test_speech_being_synthesised_never_lands_in_the_system_temp_folder(settings, tmp_path, monkeypatch):
    """espeak wrote each reply to ``/tmp/kefu-tts-*/speech.wav`` before it was resampled into the cache;
    a process killed in between left the caller's balance there for good, where no expiry reaches.
    The work file now lives where the cache's expiry pass deletes it."""
    import tempfile

    from voice import tts
    from voice.tts_cache import prune_forever

    system_tmp = tmp_path / "system-tmp"
    system_tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(system_tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(system_tmp))
    worker = tts._speech_worker()
    real_submit = worker.submit
    written: dict = {}

    def submit(text, voice, rate, target):  # the real worker; notes what exists once espeak has written
        job = real_submit(text, voice, rate, target)
        job.add_done_callback(lambda _: written.update(
            target=target, audio=target.read_bytes() if target.is_file() else None,
            in_system_tmp=sorted(p.name for p in system_tmp.rglob("*"))))
        return job

    monkeypatch.setattr(worker, "submit", submit)
    engine = Pyttsx3Engine.from_settings(settings)
    await engine.synthesize("张伟，您当前账户余额 23.50 元。", 8000)

    assert written["audio"], "espeak wrote the reply to the work file"
    assert written["in_system_tmp"] == [], "nothing in the system temp folder while espeak's file exists"
    assert list(system_tmp.iterdir()) == []
    # A process killed after espeak wrote leaves the work file as it was; a day later the pass deletes it.
    leftover = written["target"]
    leftover.parent.mkdir(parents=True, exist_ok=True)
    leftover.write_bytes(written["audio"])
    crashed_at = time.time() - settings.tts_cache_expiry_s - 1
    os.utime(leftover, (crashed_at, crashed_at))
    stop = threading.Event()
    stop.set()
    prune_forever(settings, stop)
    assert not leftover.exists(), "speech half-way to the cache when the process died outlived the expiry"


def test_a_customers_voice_a_killed_decode_left_in_the_temp_folder_is_deleted(tmp_path, monkeypatch):
    """ffmpeg and sox read files: an uploaded voice message is written to a work folder in the system temp
    folder while it is decoded, and a process killed meanwhile left it there with no expiry."""
    import tempfile

    from voice.audio import WORK_LEFTOVER_S, WORK_PREFIX
    from voice.tts_cache import prune_forever

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    left, decoding = (Path(tempfile.mkdtemp(prefix=WORK_PREFIX)) for _ in range(2))
    for folder in (left, decoding):
        (folder / "input.amr").write_bytes(b"#!AMR\n" + b"\x3c" * 32)  # what _decode_container writes
    killed_at = time.time() - WORK_LEFTOVER_S - 1
    os.utime(left, (killed_at, killed_at))
    unrelated = tmp_path / "tmp" / "someone-elses"
    unrelated.mkdir()
    os.utime(unrelated, (killed_at, killed_at))

    stop = threading.Event()
    stop.set()  # one pass
    prune_forever(from_environment({"KEFU_DATA_DIR": str(tmp_path / "var")}), stop)
    assert not left.exists(), "the voice a killed decode left behind is gone"
    assert (decoding / "input.amr").is_file(), "a decode in progress keeps its input"
    assert unrelated.is_dir(), "nothing but the decoder's own work folders is touched"
