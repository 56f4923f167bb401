"""A reply spoken to a caller does not stay in the speech cache past its expiry.

Found by a data-protection audit: ``var/tts-cache/`` kept callers' balances, bills and usage as
audio with no end (named by a hash of the text, so a guessed text could be confirmed). ``kefu run``
deletes cached speech ``KEFU_TTS_CACHE_EXPIRY_SECONDS`` after it was written.
"""
from __future__ import annotations

import os
import threading
import time

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
