"""The voice bridge against a loopback Twilio-format REST API, with the call's state in a real Redis."""
from __future__ import annotations

import pytest

from bot.embedded_redis import free_port
from bot.ivr.bridge import BridgeError, VoiceBridge
from bot.ivr.call_state import CallState, CallStore
from tests.handoff.twilio_loopback import TwilioRestLoopback

ACCOUNT, TOKEN = "AC0123456789abcdef0123456789abcdef", "loopback-token"


@pytest.fixture
async def carrier():
    port = free_port()
    server = await TwilioRestLoopback(ACCOUNT, TOKEN, live_calls={"CA42"}).start(port)
    server.url = f"http://127.0.0.1:{port}"
    yield server
    await server.stop()


async def live_call(redis, stream_sid: str, call_sid: str) -> CallStore:
    store = CallStore(redis)
    await store.create(CallState(call_id=stream_sid, caller="13800000001", flow="main", version="v1",
                                 node="transfer_general", started_at=0.0, carrier_call_id=call_sid, status="queued"))
    return store


async def test_claiming_a_call_dials_the_agent_in(redis, carrier):
    store = await live_call(redis, "MZ1", "CA42")
    bridge = VoiceBridge(carrier.url, ACCOUNT, TOKEN, "sip:{agent_id}@pbx.kefu.test")
    assert await bridge.connect(redis, "ivr:MZ1", "wang") is True
    assert carrier.updates == [{"call_sid": "CA42",
                                "twiml": "<Response><Dial><Sip>sip:wang@pbx.kefu.test</Sip></Dial></Response>"}]
    assert await store.bridged("MZ1"), "the stream ending now is the bridge, not the caller leaving"
    await store.end("MZ1")
    assert not await store.bridged("MZ1")


async def test_a_number_is_dialled_and_xml_is_escaped(redis, carrier):
    await live_call(redis, "MZ2", "CA42")
    bridge = VoiceBridge(carrier.url, ACCOUNT, TOKEN, "+86{agent_id}<")
    assert await bridge.connect(redis, "ivr:MZ2", "2000")
    assert carrier.updates[-1]["twiml"] == "<Response><Dial>+862000&lt;</Dial></Response>"


async def test_refused_update_keeps_the_text_relay(redis, carrier):
    store = await live_call(redis, "MZ3", "CA42")
    bridge = VoiceBridge(carrier.url, ACCOUNT, "wrong-token", "sip:{agent_id}@pbx.kefu.test")
    with pytest.raises(BridgeError, match="401"):
        await bridge.connect(redis, "ivr:MZ3", "wang")
    assert not await store.bridged("MZ3") and carrier.updates == []


async def test_no_live_call_or_not_a_phone_conversation_is_not_bridged(redis, carrier):
    bridge = VoiceBridge(carrier.url, ACCOUNT, TOKEN, "sip:{agent_id}@pbx.kefu.test")
    assert await bridge.connect(redis, "ivr:MZ-gone", "wang") is False
    assert await bridge.connect(redis, "0a1b2c3d4e5f", "wang") is False
    assert carrier.updates == []
