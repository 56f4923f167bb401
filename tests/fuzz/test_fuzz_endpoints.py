"""The public endpoints of the running server, fed anything: never a 500, never a hang, a clear
error, bounded memory, and the server still serves customers afterwards."""
from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid

import psutil
import pytest
import requests
from hypothesis import given, strategies as st

from tests.channels.wechat_client import WeChatServer, new_openid
from tests.fuzz.test_fuzz_parsers import json_values, twilio_frames, wechat_xml
from tests.ops.faults import process_running

pytestmark = pytest.mark.slow
ANSWER_DEADLINE_S = 30
MAX_RSS_GROWTH = 300 * 1024 * 1024


@pytest.fixture(scope="module")
def rasa_memory(running_kefu):
    """The Rasa server's memory before this module's fuzzing, checked once after it."""
    process = psutil.Process(process_running(running_kefu, "bot.security.rasa_server").pid)
    before = process.memory_info().rss
    yield
    growth = process.memory_info().rss - before
    assert growth < MAX_RSS_GROWTH, f"the Rasa server grew by {growth // 2**20} MiB while fuzzed"


def still_serving(stack) -> None:
    reply = requests.post(f"{stack.settings.rasa_url}/webhooks/rest/webhook", timeout=ANSWER_DEADLINE_S,
                          json={"sender": "after-fuzz-" + uuid.uuid4().hex[:6], "message": "查一下话费"})
    assert reply.status_code == 200 and reply.json(), "the server stopped answering after fuzzing"


rest_bodies = st.one_of(
    st.fixed_dictionaries({"sender": st.text(max_size=40) | json_values, "message": st.text(max_size=300) | json_values},
                          optional={"metadata": json_values}).map(json.dumps),
    json_values.map(json.dumps),
    st.text(max_size=300),
).map(lambda s: s.encode("utf-8")) | st.binary(max_size=300)


@given(body=rest_bodies)
def test_rest_json_never_500(running_kefu, rasa_memory, body):
    started = time.monotonic()
    answer = requests.post(f"{running_kefu.settings.rasa_url}/webhooks/rest/webhook", data=body, timeout=ANSWER_DEADLINE_S,
                           headers={"Content-Type": "application/json"})
    assert answer.status_code < 500, answer.text[:200]
    assert time.monotonic() - started < ANSWER_DEADLINE_S
    if answer.status_code >= 400:
        assert answer.text.strip(), "an error without a reason"


@given(body=wechat_xml(), safe=st.booleans())
def test_wechat_plain_and_aes_never_500(running_kefu, rasa_memory, body, safe):
    server = WeChatServer(f"{running_kefu.settings.rasa_url}/webhooks/wechat/webhook")
    if safe:
        text = body.decode("utf-8", "replace").replace("FromUserName><![CDATA[", "FromUserName><![CDATA[" + new_openid())
        answer = server.post(text, safe=True)
    else:
        answer = server.request("POST", server.query(), body)
    assert answer.status < 500, answer.body[:200]
    assert answer.seconds < ANSWER_DEADLINE_S


def test_wechat_aes_envelope_with_garbage_ciphertext_is_refused(running_kefu):
    server = WeChatServer(f"{running_kefu.settings.rasa_url}/webhooks/wechat/webhook")
    query = server.query(encrypt_type="aes", msg_signature="0" * 40)
    for cipher in ("", "not-base64!!", "QUJD", "A" * 4000):
        answer = server.request("POST", query, f"<xml><Encrypt><![CDATA[{cipher}]]></Encrypt></xml>".encode())
        assert answer.status in (400, 403) and answer.body.strip()


@given(events=st.lists(st.tuples(st.sampled_from(["user_uttered", "session_request", "message", "disconnect_me"]),
                                 json_values), min_size=1, max_size=5))
def test_socketio_events_never_break_the_chat(running_kefu, rasa_memory, events):
    import socketio

    async def scenario() -> None:
        sio = socketio.AsyncClient(reconnection=False)
        confirmed = asyncio.Event()
        sio.on("session_confirm", lambda _sid: confirmed.set())
        await sio.connect(running_kefu.settings.rasa_url, socketio_path="socket.io", transports=["websocket"])
        try:
            for name, payload in events:
                if sio.connected:  # the server may drop a misbehaving client; it must not crash
                    await sio.emit(name, payload)
        finally:
            await sio.disconnect()
        fresh = socketio.AsyncClient(reconnection=False)
        fresh.on("session_confirm", lambda _sid: confirmed.set())
        confirmed.clear()
        await fresh.connect(running_kefu.settings.rasa_url, socketio_path="socket.io", transports=["websocket"])
        try:
            await fresh.emit("session_request", {"session_id": None})
            await asyncio.wait_for(confirmed.wait(), 10)  # the chat still opens sessions
        finally:
            await fresh.disconnect()

    asyncio.run(asyncio.wait_for(scenario(), ANSWER_DEADLINE_S))


@given(frames=st.lists(twilio_frames(), min_size=1, max_size=10))
def test_phone_media_frames_never_crash_the_call_handler(running_kefu, rasa_memory, frames):
    import websockets

    url = f"ws://{running_kefu.settings.host}:{running_kefu.settings.rasa_port}/webhooks/ivr/media"

    async def scenario() -> None:
        async with websockets.connect(url) as ws:
            for frame in frames:
                try:
                    await ws.send(frame)
                except websockets.ConnectionClosed:
                    return  # a fatal frame ends the call: that is a clear answer
            # The server may answer our close frame before websockets' legacy client has flushed it:
            # close() then raises ConnectionClosedOK although the handshake completed (1000 both ways).
            with contextlib.suppress(websockets.ConnectionClosedOK):
                await ws.close()

    asyncio.run(asyncio.wait_for(scenario(), ANSWER_DEADLINE_S))


def test_server_still_serves_and_is_healthy_after_the_fuzzing(running_kefu, rasa_memory):
    import redis

    from bot.ivr.call_state import LIVE_CALLS
    from tests.ops.faults import wait_for

    still_serving(running_kefu)
    assert requests.get(f"{running_kefu.settings.rasa_url}/health", timeout=10).status_code == 200
    store = redis.Redis.from_url(running_kefu.redis_url)
    try:  # every fuzzed call that got as far as `start` was cleaned up
        wait_for(lambda: store.scard(LIVE_CALLS) == 0, 30, "no phone call state left behind")
    finally:
        store.close()
