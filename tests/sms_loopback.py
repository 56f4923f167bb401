"""A loopback SMS gateway speaking the adapter's JSON protocol (bot/outbound/sms.py), as a fixture."""
from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

import pytest
from aiohttp import web


@asynccontextmanager
async def sms_loopback(delay_s: float = 0.0, code: int = 0):
    """(received request bodies, base URL) of a gateway that answers every send after ``delay_s``, with ``code``
    (0: taken; 1001, a bad number: refused for good)."""
    received: list[dict] = []

    async def send(request):
        body = await request.json()
        await asyncio.sleep(delay_s)  # a real gateway takes a moment: concurrent senders overlap
        received.append(body)
        if code:
            return web.json_response({"code": code, "message": "refused"})
        return web.json_response({"code": 0, "message_id": body.get("client_ref") or f"m{len(received)}"})

    app = web.Application()
    app.router.add_post("/v1/sms/send", send)
    async with serving(app) as base_url:
        yield received, base_url


@asynccontextmanager
async def serving(app: web.Application):
    """The base URL of ``app`` served on a free loopback port, for the block's length."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def sms_gateway():
    """Yields (received request bodies, base URL)."""
    async with sms_loopback() as gateway:
        yield gateway
