"""The demo carrier's ring feed and softphone buttons answer this machine only.

Served in process on all interfaces (the shared stack listens on loopback only), with a real Redis
and a ringing call; one client connects from the machine's network address, one from loopback."""
from __future__ import annotations

import asyncio
import socket
import uuid

import aiohttp
import pytest
from sanic import Sanic

from tests.handoff.conftest import redis_url  # noqa: F401  the same real Redis fixture
from tests.ivr.demo_phone import SOFTPHONE, ring_a_call

PORT = 5340  # this suite's port range for servers of its own


def network_address() -> str:
    """This machine's address on its network (no packet is sent), or skip when it has only loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
        except OSError:
            pytest.skip("no network interface")
        address = probe.getsockname()[0]
    if address.startswith("127."):
        pytest.skip("no network interface besides loopback")
    return address


@pytest.fixture
async def carrier_server(kefu_env, redis_url, monkeypatch):  # noqa: F811
    """The carrier's routes on a server of their own, a call ringing for 13800000003; yields its sid."""
    from bot.channels.demo_carrier_routes import carrier_of, register
    from bot.settings import get_settings

    monkeypatch.setenv("REDIS_URL", redis_url)
    get_settings.cache_clear()
    app = Sanic(f"demo_carrier_access_{uuid.uuid4().hex[:8]}")
    register(app)
    carrier = carrier_of(app)
    assert carrier is not None, "the demo carrier is off"
    call = await ring_a_call(carrier)
    server = await app.create_server(host="0.0.0.0", port=PORT, return_asyncio_server=True, access_log=False)
    await server.startup()
    try:
        yield call.sid
    finally:
        server.close()
        await server.wait_closed()
        await carrier.redis.close()


async def first_ring(http: aiohttp.ClientSession, base: str) -> tuple[int, str]:
    """The feed's status and what it said up to its first ringing call (or its whole refusal)."""
    async with http.get(f"{base}/ivr/phone/api/rings", params={"number": ""},
                        timeout=aiohttp.ClientTimeout(total=10)) as reply:
        said = ""
        if reply.status != 200:
            return reply.status, await reply.text()
        async for line in reply.content:
            said += line.decode()
            if said.rstrip().endswith("}") and "event: ring" in said:
                return reply.status, said
    return reply.status, said


async def ring_and_answer(address: str, sid: str) -> tuple[int, str, int, str]:
    """From ``address``: the ring feed (status, what it showed) and the answer button (status, reply)."""
    base = f"http://{address}:{PORT}"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(address, 0))) as http:
        status, said = await asyncio.wait_for(first_ring(http, base), 15)
        async with http.post(f"{base}/ivr/phone/api/calls/{sid}/answer", headers=SOFTPHONE) as reply:
            return status, said, reply.status, await reply.text()


async def test_only_this_machine_sees_calls_ring_and_answers_them(carrier_server):
    """Found by a tester: anyone reaching the server watched every outbound call ring (the customer's
    full number) and answered it with the follow-up's one-time token, given one header."""
    sid = carrier_server
    status, said, answered, answer = await ring_and_answer(network_address(), sid)
    assert status == 403 and "13800000003" not in said
    assert answered == 403 and "one-time-token" not in answer
    # The local softphone page still rings and answers.
    status, said, answered, answer = await ring_and_answer("127.0.0.1", sid)
    assert status == 200 and "13800000003" in said
    assert answered == 200 and "one-time-token" in answer
