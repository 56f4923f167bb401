"""A loopback SMS gateway speaking the adapter's JSON protocol (bot/outbound/sms.py), as a fixture."""
from __future__ import annotations

import pytest
from aiohttp import web


@pytest.fixture
async def sms_gateway():
    """Yields (received request bodies, base URL)."""
    received: list[dict] = []

    async def send(request):
        received.append(await request.json())
        return web.json_response({"code": 0, "message_id": f"m{len(received)}"})

    app = web.Application()
    app.router.add_post("/v1/sms/send", send)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield received, f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
    await runner.cleanup()
