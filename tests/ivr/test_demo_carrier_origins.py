"""The demo softphone's ring feed and buttons answer Kefu's own pages only, never a script of a site
``KEFU_CORS_ORIGINS`` lists (the site embedding the chat widget), even in a browser on this machine.

Rasa's CORS (as ``kefu run`` configures it) lets those sites read answers; the feed and the buttons
need no cookie, only a loopback client and the ``X-Kefu-Softphone`` header, which passes their CORS
preflight. A partner page open on the demo machine read every ringing customer's number and the
parameters (one-time token) that answer the call, and could pick it up.

Served in process on loopback with Rasa's own CORS set-up, a real Redis and a ringing call."""
from __future__ import annotations

import base64
import uuid

import aiohttp
import pytest
from rasa.server import configure_cors
from sanic import Sanic

from bot.embedded_redis import free_port
from bot.security.launch import cors_arguments
from tests.handoff.conftest import redis_url  # noqa: F401  the same real Redis fixture
from tests.ivr.demo_phone import SOFTPHONE, ring_a_call

Sanic.test_mode = True  # a second app in the process (tests/handoff/test_audio_ranges.py says why)

PARTNER = "https://www.example.com"


@pytest.fixture
async def carrier_server(kefu_env, redis_url, monkeypatch):  # noqa: F811
    """The carrier's routes (Rasa's CORS on), a call ringing for 13800000003; yields (base URL, sid)."""
    from bot.channels.demo_carrier_routes import carrier_of, register
    from bot.settings import get_settings

    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("KEFU_CORS_ORIGINS", PARTNER)
    get_settings.cache_clear()
    app = Sanic(f"demo_carrier_origins_{uuid.uuid4().hex[:8]}")
    configure_cors(app, cors_arguments(get_settings())[1:])
    register(app)
    carrier = carrier_of(app)
    assert carrier is not None, "the demo carrier is off"
    call = await ring_a_call(carrier)
    port = free_port()
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False)
    await server.startup()
    await server.before_start()  # as ``app.run`` does: Rasa's CORS adds its middleware then
    try:
        yield f"http://127.0.0.1:{port}", call.sid
    finally:
        server.close()
        await server.wait_closed()
        await carrier.redis.close()


def readable_by(answer: aiohttp.ClientResponse, origin: str) -> bool:
    return answer.headers.get("Access-Control-Allow-Origin") in (origin, "*")


async def test_a_partner_page_on_the_demo_machine_neither_sees_rings_nor_answers_calls(carrier_server):
    base, sid = carrier_server
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/ivr/phone/api/rings", params={"number": ""}, headers={"Origin": PARTNER},
                            timeout=aiohttp.ClientTimeout(total=10)) as feed:
            shown = feed.status == 200 and readable_by(feed, PARTNER)
            assert not shown, "a partner page's script could read the ring feed"
            assert feed.status == 403
        async with http.post(f"{base}/ivr/phone/api/calls/{sid}/answer",
                             headers={**SOFTPHONE, "Origin": PARTNER}) as answer:
            body = await answer.text()
            assert answer.status == 403, f"a partner page's script answered the call: {body}"
        # The softphone page itself (Kefu's own origin) still answers it.
        async with http.post(f"{base}/ivr/phone/api/calls/{sid}/answer",
                             headers={**SOFTPHONE, "Origin": base}) as answer:
            assert answer.status == 200 and "one-time-token" in await answer.text()


@pytest.mark.parametrize("given", ["Basic 签名", "Basic " + base64.b64encode("AC签名:令牌".encode()).decode()],
                         ids=["not-base64", "non-ascii-credentials"])
async def test_credentials_with_non_ascii_characters_are_refused_not_a_crash(carrier_server, given):
    """Found in review: such an Authorization header was a 500 with a logged traceback, not a 401."""
    from bot.contacts.carrier_account import DEMO_API_PATH, DEMO_ACCOUNT_SID

    base, _ = carrier_server
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}{DEMO_API_PATH}/2010-04-01/Accounts/{DEMO_ACCOUNT_SID}/Calls.json",
                             data={"To": "13800000003"}, headers={"Authorization": given}) as answer:
            assert answer.status == 401
