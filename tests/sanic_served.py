"""A Sanic app served in process on a free loopback port, for tests that speak HTTP to one part of Kefu."""
from __future__ import annotations

import contextlib
from typing import AsyncIterator

from sanic import Sanic

from bot.embedded_redis import free_port


@contextlib.asynccontextmanager
async def served_app(app: Sanic) -> AsyncIterator[str]:
    """Serve ``app`` until the block ends; yields its base URL."""
    port = free_port()
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False)
    await server.startup()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


@contextlib.asynccontextmanager
async def served_desk(desk, name: str, **config) -> AsyncIterator[str]:
    """The agent desk's routes around ``desk``, on an app of their own named ``name``; yields its base URL.
    ``config``: Sanic's settings (``PROXIES_COUNT=1``, as ``SANIC_PROXIES_COUNT`` sets it)."""
    from bot.channels import agent_desk

    app = Sanic(f"{name}_{free_port()}")
    app.config.update(config)
    app.ctx.kefu_desk = desk
    for path, handler, methods in agent_desk.ROUTES:
        app.add_route(handler, path, methods=methods)
    async with served_app(app) as url:
        yield url
