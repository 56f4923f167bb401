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
async def served_desk(desk, name: str, *, page: bool = False, **config) -> AsyncIterator[str]:
    """The agent desk's routes around ``desk``, on an app of their own named ``name``; yields its base URL.
    ``page``: with the desk's page at ``/agent/`` (its scripts and UI strings), for a browser.
    ``config``: Sanic's settings (``PROXIES_COUNT=1``, as ``SANIC_PROXIES_COUNT`` sets it)."""
    from bot.channels import agent_desk
    from bot.channels.assets import serve_assets
    from bot.settings import get_settings

    app = Sanic(f"{name}_{free_port()}")
    app.config.update(config)
    app.ctx.kefu_desk = desk
    for path, handler, methods in agent_desk.ROUTES:
        app.add_route(handler, path, methods=methods)
    if page:
        app.add_route(agent_desk.page, "/agent/", methods=["GET"], strict_slashes=True)
        serve_assets(app, "/agent/assets", agent_desk.WEB_DIR, "kefu_agent_assets")
        app.static("/agent/ui", str(get_settings().content_dir / "ui"), name="kefu_agent_ui")
    async with served_app(app) as url:
        yield url
