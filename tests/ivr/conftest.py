"""Fixtures for the IVR tests: the shared running stack, its Redis and database, real clips at 8 kHz."""
from __future__ import annotations

import asyncio
import random
import time

import pytest

from tests.conftest import SHARED_SPEECH
from tests.ivr.scripted_asr import speech_seconds, write_script


@pytest.fixture(scope="session")
def ivr_url(running_kefu) -> str:
    settings = running_kefu.settings
    return f"ws://{settings.host}:{settings.rasa_port}/webhooks/ivr/media"


@pytest.fixture
async def stack_redis(running_kefu):
    import redis.asyncio as redis

    client = redis.from_url(running_kefu.redis_url)
    yield client
    await client.close()


@pytest.fixture(scope="session")
def repository(running_kefu):
    from bot.db.repository import Repository

    return Repository(running_kefu.settings.database_url)


@pytest.fixture(scope="session")
def clips_8k() -> dict[str, bytes]:
    """The shared recordings as 8 kHz PCM, the way a phone line carries them."""
    from voice.audio import decode_file, mulaw_decode, mulaw_encode

    clips = sorted(SHARED_SPEECH.glob("*.wav")) if SHARED_SPEECH.is_dir() else []
    if not clips:
        pytest.skip(f"no speech clips at {SHARED_SPEECH}")
    return {c.name: mulaw_decode(mulaw_encode(decode_file(c, target_rate=8000).samples)) for c in clips}


@pytest.fixture
def asr_script(running_kefu):
    """``asr_script({pcm: "text"})``: what the test recogniser hears for each clip."""
    def write(entries: dict[bytes, str]) -> None:
        write_script(running_kefu.settings.data_dir, [(speech_seconds(pcm, 8000), text) for pcm, text in entries.items()])
    write({})
    yield write
    write({})


@pytest.fixture
def caller() -> str:
    """A fresh mobile number per test, so Rasa conversations do not carry over."""
    return f"139{random.randint(0, 99_999_999):08d}"


async def call_events(repository, stream_sid: str, timeout: float = 10) -> list[dict]:
    """The call's record in the database, once the call has ended."""
    deadline = time.monotonic() + timeout
    while True:
        events = await asyncio.to_thread(repository.events_for, f"ivr:{stream_sid}")
        if any(e["kind"] == "ivr_call_ended" for e in events) or time.monotonic() > deadline:
            return events
        await asyncio.sleep(0.1)


async def ended(repository, stream_sid: str) -> dict:
    events = await call_events(repository, stream_sid)
    found = [e for e in events if e["kind"] == "ivr_call_ended"]
    assert found, f"call {stream_sid} was never recorded as ended: {events}"
    return found[-1]["data"]


async def stored_voice_messages(repository) -> set[str]:
    return {m["id"] for m in await asyncio.to_thread(repository.voice_messages, limit=500)}


def voice_message_audio(repository, message: dict) -> bytes:
    """The message's recording as every instance's desk reads it: from the shared database."""
    from bot.db.recordings import VOICE_MESSAGE, RecordingStore

    stored = RecordingStore(repository.url).get(message["id"], VOICE_MESSAGE)
    assert stored is not None, "the voice message has no recording in the database"
    return stored.audio


async def new_voice_message(repository, before: set[str], timeout: float = 30) -> dict:
    """The voice message stored since ``before`` (the ids there were) — one call's message."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = [m for m in await asyncio.to_thread(repository.voice_messages, limit=500) if m["id"] not in before]
        if found:
            assert len(found) == 1, found
            return found[0]
        assert asyncio.get_running_loop().time() < deadline, "no voice message stored"
        await asyncio.sleep(0.3)


async def assert_cleaned(redis, stream_sid: str, timeout: float = 10) -> None:
    from bot.ivr.call_state import LIVE_CALLS, call_key, recording_key

    deadline = time.monotonic() + timeout
    while True:
        left = await redis.exists(call_key(stream_sid), recording_key(stream_sid))
        live = await redis.sismember(LIVE_CALLS, stream_sid)
        if not left and not live:
            return
        assert time.monotonic() < deadline, f"call state of {stream_sid} still in Redis"
        await asyncio.sleep(0.1)


async def call_state(redis, stream_sid: str) -> dict | None:
    import json

    from bot.ivr.call_state import call_key

    raw = await redis.get(call_key(stream_sid))
    return json.loads(raw) if raw else None
