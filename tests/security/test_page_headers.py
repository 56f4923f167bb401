"""Kefu's pages are served only at their own routes, with their headers: never again as a file of the
folder their scripts and styles are served from.

The desk's page (``/agent/``) forbids framing (``frame-ancestors 'none'``), the chat page allows only
Kefu itself; the same files were also served as assets (``/agent/assets/index.html``,
``/chat/assets/index.html``) with none of those headers, where any site could frame them (a page on the
desk's own site with the agent's cookie) and have an agent click 客户要求不再联系 or 结束 unseen.

Through the real routes: the desk's and the web chat's blueprints on Sanic servers, requests over a socket."""
from __future__ import annotations

import aiohttp
import pytest
from sanic import Sanic

from bot.channels.agent_desk import DeskBlueprint
from bot.channels.webchat import WebChatInput
from tests.channels.test_channel_config import settings
from tests.channels.test_webchat_inflight import Assistant, secrets_in_environment, served  # noqa: F401
from tests.handoff.conftest import redis, redis_url  # noqa: F401  the same real Redis fixtures
from tests.sanic_served import served_app

Sanic.test_mode = True  # a second app in the process (tests/handoff/test_audio_ranges.py says why)


def framing_refused(answer: aiohttp.ClientResponse, allowed: str) -> bool:
    return f"frame-ancestors {allowed}" in answer.headers.get("Content-Security-Policy", "")


async def page_or_missing(session: aiohttp.ClientSession, url: str, allowed: str) -> tuple[int, bool]:
    async with session.get(url) as answer:
        return answer.status, answer.status == 404 or framing_refused(answer, allowed)


@pytest.fixture
async def desk_url(kefu_env):
    app = Sanic("page_headers_desk")
    app.blueprint(DeskBlueprint("agent_desk_webhook", __name__))
    async with served_app(app) as url:
        yield url


async def test_the_desks_pages_are_never_served_without_their_framing_rule(desk_url):
    async with aiohttp.ClientSession() as session:
        for page in ("/agent/", "/agent/supervisor/", "/agent/ledger/"):
            async with session.get(desk_url + page) as answer:
                assert answer.status in (200, 403) and framing_refused(answer, "'none'"), page
        for copy in ("index.html", "supervisor.html", "ledger.html"):
            status, safe = await page_or_missing(session, f"{desk_url}/agent/assets/{copy}", "'none'")
            assert safe, f"/agent/assets/{copy} served the page ({status}) with no framing rule"
        for asset in ("agent.js", "agent.css", "desk_common.js", "ledger.js"):  # what the pages load
            async with session.get(f"{desk_url}/agent/assets/{asset}") as answer:
                assert answer.status == 200, asset


async def test_the_chat_page_is_never_served_without_its_framing_rule(redis_url, redis):  # noqa: F811
    channel = WebChatInput(settings(REDIS_URL=redis_url), session_persistence=True)
    async with served(channel, Assistant()) as url, aiohttp.ClientSession() as session:
        async with session.get(f"{url}/chat/") as answer:
            assert answer.status == 200 and framing_refused(answer, "'self'")
        status, safe = await page_or_missing(session, f"{url}/chat/assets/index.html", "'self'")
        assert safe, f"/chat/assets/index.html served the chat page ({status}) with no framing rule"
        for asset in ("chat.js", "chat.css", "vendor/socket.io.min.js"):
            async with session.get(f"{url}/chat/assets/{asset}") as answer:
                assert answer.status == 200, asset
        async with session.get(f"{url}/help/assets/help.css") as answer:  # the self-help pages' style
            assert answer.status == 200
