"""The phone channel warms itself once the server is up, so the first caller hears the greeting at once.

Found by a phone tester: the first call after start-up waited ~7.8 s before the greeting (the call
runtime, the recogniser's model, espeak-ng and the greeting's audio were all made on first use).
The channel's ``after_server_start`` listener is run here as Sanic runs it; afterwards everything
the first call needs is ready.
"""
from __future__ import annotations

import asyncio
import time

import pytest

from tests.conftest import PROJECT_ROOT
from tests.handoff.conftest import redis_url  # noqa: F401  the same real Redis fixture

TEST_MODEL = PROJECT_ROOT.parent / "shared" / "models" / "vosk-model-kefu-test-zh"


@pytest.fixture
def phone_settings(kefu_env, redis_url, monkeypatch):  # noqa: F811
    from bot import settings as settings_module

    monkeypatch.setenv("REDIS_URL", redis_url)  # the test's own embedded Redis
    if TEST_MODEL.is_dir():
        monkeypatch.setenv("VOSK_MODEL_PATH", str(TEST_MODEL))
    else:
        monkeypatch.setenv("KEFU_IVR_ASR_ENGINE", "tests.ivr.scripted_asr:ScriptedRecognizerForTests")
    settings_module.get_settings.cache_clear()
    return settings_module.get_settings()


async def test_the_channel_is_warm_for_the_first_call_once_the_server_is_up(phone_settings):
    from bot.channels.ivr import IvrInput
    from bot.ivr.flow_loader import load_flow_file
    from bot.ivr.playback import sentences
    from voice.pcm import PHONE_RATE

    async def on_new_message(message) -> None:
        raise AssertionError("warming the channel must not talk to the assistant")

    channel = IvrInput(phone_settings)
    blueprint = channel.blueprint(on_new_message)
    started = [f.listener for f in blueprint._future_listeners if f.event == "after_server_start"]
    assert started, "nothing warms the phone channel when the server starts"
    began = time.monotonic()
    for listener in started:
        await listener(None, asyncio.get_running_loop())
    assert time.monotonic() - began < 0.5, "the server's start waited for the warm-up"
    await asyncio.wait_for(channel._warming, 60)

    runtime = channel._runtime
    assert runtime is not None, "the call runtime is still built by the first call"
    assert runtime.asr is not None, "the speech recogniser is still loaded by the first call"
    assert _worker_ready(), "espeak-ng still starts on the first call"
    main = load_flow_file(phone_settings.ivr_flows_dir / "main.yml")
    welcome = main.node(main.start)
    assert runtime.player.tts.cache_path(welcome.say, PHONE_RATE).is_file(), "the greeting is synthesised by the first call"
    began = time.monotonic()
    await runtime.player.audio(main.prompt_id(welcome), welcome.say, PHONE_RATE)
    assert time.monotonic() - began < 0.5
    # what a caller ended to make room for the carrier's caller hears, in the little time they are given
    line_busy = sentences(runtime.services.hotline.get().prompt("line_busy").strip())
    assert line_busy and all(runtime.player.tts.cache_path(s, PHONE_RATE).is_file() for s in line_busy), \
        "the line-busy prompt is synthesised while its caller's time runs"
    await runtime.lines.stop()


def _worker_ready() -> bool:
    from voice.tts import _speech_worker

    return _speech_worker()._ready.is_set()
