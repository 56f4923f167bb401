"""Speech for closed-loop tests: Kefu's own TTS saying words the test Vosk model knows.

The test model (../shared/models/README.md) recognises espeak-ng speech of its own vocabulary
almost perfectly and real voices not at all, so tests that need a known transcript speak it
with :class:`voice.tts.Pyttsx3Engine` — the engine the phone prompts use — and first check that
every word of the sentence is in the model's ``graph/words.txt``.
"""
from __future__ import annotations

import asyncio
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

from voice.pcm import mulaw_decode, mulaw_encode, read_wav

_CACHE = Path(tempfile.gettempdir()) / f"kefu-test-speech-{os.getuid()}"


@lru_cache(maxsize=1)
def _engine():
    from bot.settings import from_environment
    from voice.tts import Pyttsx3Engine

    settings = from_environment()
    return Pyttsx3Engine(settings.tts_voice, settings.tts_rate, _CACHE)


def assert_model_knows(text: str) -> None:
    from bot.settings import from_environment
    from voice.grammar import model_vocabulary
    from voice.model_layout import validate_model_dir

    vocabulary = model_vocabulary(validate_model_dir(from_environment().vosk_model_path))
    assert vocabulary is not None and vocabulary.segment(text), f"the test model cannot say {text!r}"


@lru_cache(maxsize=64)
def spoken(text: str, sample_rate: int = 8000) -> bytes:
    """Mono s16le PCM of Kefu's TTS saying ``text`` (callable from sync and async tests)."""
    assert_model_knows(text)
    with ThreadPoolExecutor(1) as pool:  # its own loop: callers may be inside one already
        wav = pool.submit(asyncio.run, _engine().synthesize(text, sample_rate)).result(120)
    return read_wav(wav).samples


def spoken_on_the_phone(text: str) -> bytes:
    """8 kHz speech after a μ-law round trip, the way the phone line carries it."""
    return mulaw_decode(mulaw_encode(spoken(text, 8000)))
