"""What one media-stream client can take from the process: the real path in process (a Twilio-format
WebSocket served by :class:`CallSession` with the shipped flows, the real engine, Redis and database).

Anyone can open ``/webhooks/ivr/media`` (the softphone does), and each process serves at most
``max_calls`` calls (a share of them unvouched: tests/ivr/test_unvouched_places.py): a socket that never
starts a call must be closed, and a stream that sends audio faster than it could be spoken must not have
it all read (and queued for the recognisers) at once.
"""
from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid

import pytest
import websockets

from bot.embedded_redis import free_port
from tests.channels.test_webchat_inflight import until
from tests.handoff.conftest import redis, redis_url  # noqa: F401  the same real Redis fixtures
from tests.ivr.simulator import receiver

pytestmark = pytest.mark.realtime

START_TIMEOUT_S = 1.0
AUDIO_AHEAD_S = 0.5
KEYS_PER_SECOND = 10.0
KEY_BURST = 5
FRAME = base64.b64encode(b"\xff" * 160).decode()  # 20 ms of μ-law silence


@pytest.fixture
async def media_line(kefu_env, redis, monkeypatch):  # noqa: F811
    """A media-stream server on a free port; yields (url, sessions it served, their end reasons)."""
    from bot.db.repository import Repository
    from bot.ivr import session as session_module
    from bot.ivr.call_state import CallStore
    from bot.ivr.config import HotlineConfigSource
    from bot.ivr.engine import FlowEngine
    from bot.ivr.handoff import QueueHandoff
    from bot.ivr.registry import FlowRegistry
    from bot.ivr.services import CallRecords, CallServices
    from bot.ivr.session import CallSession
    from bot.ivr.twilio import TwilioSerializer
    from bot.notify import OutboxNotifier
    from voice.prompts import PromptPlayer
    from voice.tts import default_engine

    monkeypatch.setattr(session_module, "START_TIMEOUT_S", START_TIMEOUT_S, raising=False)
    monkeypatch.setattr(session_module, "MAX_AUDIO_AHEAD_S", AUDIO_AHEAD_S, raising=False)
    monkeypatch.setattr(session_module, "KEYS_PER_SECOND", KEYS_PER_SECOND, raising=False)
    monkeypatch.setattr(session_module, "KEY_BURST", KEY_BURST, raising=False)
    repository = Repository(kefu_env.database_url)
    services = CallServices(registry=FlowRegistry(kefu_env.ivr_flows_dir, redis).load(), store=CallStore(redis),
                            hotline=HotlineConfigSource(kefu_env.ivr_config_path), records=CallRecords(repository),
                            handoff=QueueHandoff(redis, repository),
                            notifier=OutboxNotifier.from_settings(kefu_env, repository))
    engine = FlowEngine(services)
    player = PromptPlayer(default_engine(), kefu_env.prompts_dir)
    sessions: list[CallSession] = []
    reasons: list[str] = []

    async def serve(ws) -> None:
        session = CallSession(engine=engine, serializer=TwilioSerializer(), player=player, asr=None,
                              send=ws.send, close=ws.close)
        sessions.append(session)
        reasons.append(await session.run(receiver(ws)))

    port = free_port()
    async with websockets.serve(serve, "127.0.0.1", port):
        yield f"ws://127.0.0.1:{port}", sessions, reasons
    await engine.drain()


def start_frame() -> str:
    sid = "MZ" + uuid.uuid4().hex
    return json.dumps({"event": "start", "streamSid": sid, "start": {
        "streamSid": sid, "callSid": "CA" + uuid.uuid4().hex, "customParameters": {},
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}})


async def drain(ws) -> None:
    async for _ in ws:
        pass


async def test_a_socket_that_never_starts_a_call_is_closed(media_line):
    # Found in review: a client sending `connected` every few seconds, never `start`, held one of the
    # process's max_calls places for the whole max_call_s (30 minutes); 50 of them shut the hotline.
    url, _, reasons = media_line
    async with websockets.connect(url) as ws:
        opened = time.monotonic()
        with pytest.raises(websockets.ConnectionClosed):
            for _ in range(40):  # 8 s of keep-alives
                await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
                await asyncio.sleep(0.2)
            await ws.recv()
        closed_after = time.monotonic() - opened
    assert closed_after < START_TIMEOUT_S + 1.5, closed_after

    async def reason_recorded() -> bool:  # recorded as the server ends the call, just after the socket closes
        return bool(reasons)

    await until(reason_recorded, 5, "the call's end to be recorded")
    assert reasons == ["no_start"]


async def test_audio_sent_faster_than_spoken_is_taken_in_no_faster_than_real_time(media_line):
    # Found in review: the server decoded (and queued for the recognisers) whatever it was sent at once:
    # one client could push hours of audio in seconds and starve every other call's speech recognition.
    url, sessions, _ = media_line
    burst_s = 3.0
    async with websockets.connect(url) as ws:
        listening = asyncio.create_task(drain(ws))  # the greeting's audio, as a carrier would play it
        await ws.send(start_frame())
        opened = time.monotonic()
        frame = json.dumps({"event": "media", "media": {"track": "inbound", "payload": FRAME}})
        for _ in range(int(burst_s / 0.02)):
            await ws.send(frame)
        session = sessions[0]
        taken_in = []
        while session.audio.seconds < burst_s - 0.02 and time.monotonic() - opened < burst_s + 5:
            taken_in.append((time.monotonic() - opened, session.audio.seconds))
            await asyncio.sleep(0.05)
        assert session.audio.seconds >= burst_s - 0.02, "the stream's audio was not all read"
        ahead = max(audio - elapsed for elapsed, audio in taken_in)
        assert ahead <= AUDIO_AHEAD_S + 0.1, f"audio was read {ahead:.2f} s ahead of the clock"
        await ws.send(json.dumps({"event": "stop", "stop": {}}))
        await listening


async def test_keys_sent_faster_than_a_phone_can_key_them_are_taken_in_at_a_phones_pace(media_line):
    # Found in review: every dtmf frame was a flow step (Redis round trips) at whatever rate it came:
    # a client could keep the engine and Redis busy with keys at network speed.
    url, _, reasons = media_line
    keys = 30
    async with websockets.connect(url) as ws:
        listening = asyncio.create_task(drain(ws))
        await ws.send(start_frame())
        opened = time.monotonic()
        for _ in range(keys):
            await ws.send(json.dumps({"event": "dtmf", "dtmf": {"track": "inbound_track", "digit": "9"}}))
        await ws.send(json.dumps({"event": "stop", "stop": {}}))
        await listening  # the server closes once it has read the stop, after every key before it
        taken_in_s = time.monotonic() - opened
    assert reasons == ["caller"]
    assert taken_in_s >= (keys - KEY_BURST) / KEYS_PER_SECOND - 0.1, taken_in_s
