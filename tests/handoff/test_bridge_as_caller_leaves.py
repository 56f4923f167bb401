"""A caller who hangs up as the agent's claim dials the agent's phone into the call (the voice bridge).

The bridge marks the call bridged before asking the carrier, so the stream's end is not taken for the caller
leaving (bot.ivr.bridge). The call's process, ending in between, found that mark and left the queue to the agent
(bot/ivr/engine.py ``_clear``: no leave for a bridged call); the carrier then refused (the call had ended) and the
mark went: found in review, the leave was lost. The order here is the exact one: the desk's bridge marks the call,
the call's process ends as ``_clear`` does, then the carrier answers. Real Redis, the loopback Twilio REST API.
"""
from __future__ import annotations

import pytest

from bot.embedded_redis import free_port
from bot.ivr.bridge import VoiceBridge
from bot.ivr.call_state import CallState, CallStore
from bot.ivr.handoff import QueueHandoff
from tests.handoff.test_desk_first_shift import conversations, desk, signed_in, waiting  # noqa: F401 - fixtures
from tests.handoff.twilio_loopback import TwilioRestLoopback

ACCOUNT, TOKEN = "AC0123456789abcdef0123456789abcdef", "loopback-token"


@pytest.fixture
async def carrier():
    port = free_port()
    server = await TwilioRestLoopback(ACCOUNT, TOKEN, live_calls={"CA-live"}).start(port)
    server.url = f"http://127.0.0.1:{port}"
    yield server
    await server.stop()


async def test_a_caller_who_hangs_up_as_the_bridge_dials_the_agent_is_not_left_with_the_agent(
        desk, queue, events, carrier):  # noqa: F811
    store = CallStore(queue.redis)
    await store.create(CallState(call_id="MZ-bye", caller="13800000001", flow="main", version="v1",
                                 node="transfer_general", started_at=0.0, carrier_call_id="CA-bye", status="queued"))
    await waiting(queue, "ivr:MZ-bye", channel="ivr")
    await waiting(queue, "next-chat")
    phone = QueueHandoff(queue.redis, repository=None)  # the call's process
    phone.queue = queue

    class HungUpAsDialled(VoiceBridge):
        async def update_call(self, carrier_call_id: str, twiml: str) -> dict:
            # The call's process ends now, as bot/ivr/engine.py _clear does: no leave for a call marked bridged.
            if not await store.bridged("MZ-bye"):
                await phone.leave("ivr:MZ-bye", "caller_hung_up")
            await store.end("MZ-bye")
            return await super().update_call(carrier_call_id, twiml)  # the carrier: that call has ended

    desk.voice_bridge = HungUpAsDialled(carrier.url, ACCOUNT, TOKEN, "sip:{agent_id}@pbx.kefu.test")
    await signed_in(desk, "wang", ["tv"])
    view = await desk.claim("wang", "王芳")

    assert (await queue.entry("ivr:MZ-bye"))["state"] == "left", "the caller who hung up is still with the agent"
    assert "handoff_customer_left" in events.kinds("ivr:MZ-bye")
    assert view is not None and view["conversation_id"] == "next-chat", "the agent gets the next customer instead"
    assert await queue.serving("wang") == ["next-chat"]
