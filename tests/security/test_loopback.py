"""Loopback-only pages are not local when proxied (deployer's finding 7): with nginx on the same host
the peer is always 127.0.0.1, and the softphone's ring feed answered through the proxy.

One real Sanic server on loopback (Sanic rewrites its HTTP code when an app starts, and a second
app started in the same test module failed on that), asked with and without the proxy setting
deploy/nginx.conf needs (SANIC_PROXIES_COUNT=1, read per request)."""
from __future__ import annotations

import uuid

import aiohttp
from sanic import Sanic, response

from bot.embedded_redis import free_port
from bot.security.loopback import from_loopback

PROXIED = [
    {"X-Forwarded-For": "203.0.113.7"},  # what nginx sends for a client on the internet
    {"X-Forwarded-For": "127.0.0.1"},    # a client writing a local address: still proxied
    {"Forwarded": "for=203.0.113.7"},
    {"X-Real-IP": "203.0.113.7"},
    {"X-Forwarded-Proto": "https"},      # nginx's location / sets it, whatever the address
]


async def test_a_proxied_request_is_never_local_a_direct_one_is():
    app = Sanic(f"loopback_{uuid.uuid4().hex[:8]}")

    @app.get("/local")
    async def local(req):
        return response.text("local" if from_loopback(req) else "remote")

    port = free_port()
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False)
    await server.startup()
    seen = {}
    try:
        async with aiohttp.ClientSession() as http:
            for proxies in (None, 1):
                app.config.PROXIES_COUNT = proxies
                for headers in [{}] + PROXIED:
                    async with http.get(f"http://127.0.0.1:{port}/local", headers=headers) as reply:
                        seen[(proxies, tuple(headers.items()))] = await reply.text()
    finally:
        server.close()
        await server.wait_closed()
    for (proxies, headers), verdict in seen.items():
        assert verdict == ("remote" if headers else "local"), (proxies, headers)
