"""Kefu's chat page refused for its network's limit says why, in its header, and comes back by itself.

socket.io-client does not try again after a server refused the connection: without the page's own
retry it stayed offline for good. The channel is served in process on a real Redis with a stand-in
assistant, and the page runs in a real Chromium, as ``test_message_limit_browser``.
"""
from __future__ import annotations

import contextlib
import json
import logging
import re
import shutil
from datetime import datetime, timedelta

import pytest
from sanic import Sanic

from bot.channels.webchat import WebChatInput
from bot.channels.webchat_addresses import AddressLimits
from bot.embedded_redis import free_port
from tests.channels.test_channel_config import settings
from tests.channels.test_webchat_addresses import Page, open_count
from tests.channels.test_webchat_inflight import Assistant, secrets_in_environment, until  # noqa: F401
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, PROJECT_ROOT
from tests.handoff.conftest import Clock, redis, redis_url  # noqa: F401  the same real Redis fixtures

pytestmark = [pytest.mark.browser]


def strings() -> dict:
    return json.loads((PROJECT_ROOT / "content" / "ui" / "webchat.zh.json").read_text(encoding="utf-8"))


@contextlib.asynccontextmanager
async def chat_served(channel: WebChatInput, port: int, assistant: Assistant | None = None, agent=None):
    """The channel with its page on ``port`` (the page's origin is Kefu's own), ``assistant`` behind it and
    ``agent``'s stores (a resuming page is sent what they hold), if any; yields a function opening the page
    in Chromium."""
    if not shutil.which(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium fonts-wqy-microhei)")
    from tests.playwright_start import async_playwright_started

    app = Sanic(f"webchat_addresses_{free_port()}")
    if agent is not None:
        app.ctx.agent = agent
    app.blueprint(channel.blueprint(assistant or Assistant()), url_prefix="/webhooks/webchat")
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False)
    await server.startup()
    errors: list[str] = []
    try:
        async with async_playwright_started() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)

            async def open_page(prepare=None):
                page = await browser.new_page(viewport={"width": 375, "height": 740}, locale="zh-CN")
                page.on("pageerror", lambda error: errors.append(str(error)))
                if prepare is not None:  # before the page's script runs (its clock, its WebSocket's frames)
                    await prepare(page)
                await page.goto(f"http://127.0.0.1:{port}/chat/")
                return page

            yield open_page
            await browser.close()
    finally:
        server.close()
        await server.wait_closed()
    assert not errors, errors


async def asked_again(redis) -> bool:  # noqa: F811
    """Whether a socket asked for a session more than once (each request is counted per socket)."""
    return any([await redis.zcard(key) > 1 async for key in redis.scan_iter("kefu:webchat:rate:socket:*:sessions")])


async def session_of(page) -> str | None:
    return await page.evaluate("() => window.kefuChat && window.kefuChat.session()")


async def test_a_page_refused_for_too_many_connections_says_so_and_connects_once_there_is_room(
        redis_url, redis):  # noqa: F811
    port = free_port()
    channel = WebChatInput(settings(REDIS_URL=redis_url, KEFU_RASA_PORT=str(port),
                                    KEFU_WEBCHAT_CONNECTIONS_PER_ADDRESS="1"), session_persistence=True)
    async with chat_served(channel, port) as open_page:
        other = Page()  # another customer on the same network, there first
        assert await other.open(f"http://127.0.0.1:{port}") is None
        page = await open_page()
        status = page.locator("#status")
        await page.wait_for_function("() => document.getElementById('status').dataset.state === 'refused'",
                                     timeout=15000)
        assert await status.inner_text() == strings()["status_too_many_connections"]
        assert await session_of(page) is None
        await other.close()
        # retried on its own
        await page.wait_for_function("() => window.kefuChat && window.kefuChat.session()", timeout=25000)
        assert await status.inner_text() == strings()["status_online"]


async def test_a_page_refused_a_new_session_says_so_and_gets_one_once_the_minute_has_passed(
        redis_url, redis):  # noqa: F811
    port = free_port()
    channel = WebChatInput(settings(REDIS_URL=redis_url, KEFU_RASA_PORT=str(port)), session_persistence=True)
    clock = Clock()
    channel.addresses = AddressLimits(channel.redis, 0, 1, clock=clock)
    async with chat_served(channel, port) as open_page:
        other = Page()
        assert await other.open(f"http://127.0.0.1:{port}") is None
        assert await other.new_session(), "the network's one new session this minute"
        page = await open_page()
        await page.wait_for_function("() => document.getElementById('status').dataset.state === 'refused'",
                                     timeout=15000)
        assert await page.locator("#status").inner_text() == strings()["status_too_many_sessions"]
        state_changes = await page.evaluate("""() => {
            window.statusSaid = [];
            new MutationObserver(() => window.statusSaid.push(document.getElementById('status').textContent))
                .observe(document.getElementById('status'), {childList: true, characterData: true, subtree: true});
        }""")
        assert state_changes is None
        await until(lambda: asked_again(redis), timeout=25, what="the page to ask again")  # refused again
        assert await page.evaluate("() => window.statusSaid") == [], "the header flickered (read out each time)"
        clock.now += 61  # the minute has passed
        await page.wait_for_function("() => window.kefuChat && window.kefuChat.session()", timeout=25000)
        assert await page.locator("#status").inner_text() == strings()["status_online"]
        await other.close()


async def test_a_refused_page_that_reconnects_meanwhile_goes_on_asking_once_per_wait(redis_url, redis):  # noqa: F811
    """Refused a new session, the page waits 5-15 s and asks again. Disconnected meanwhile (a phone losing
    signal, or the server closing a socket that asked too often) it asked again on reconnecting and was
    refused again, and the first wait went on too: two requests per wait, one more with each reconnection.
    The server closes a socket asking for more than SESSION_REQUESTS_PER_MINUTE sessions a minute, so a
    page refused for long asked faster and faster and was hung up on and reconnected, over and over."""
    port = free_port()
    channel = WebChatInput(settings(REDIS_URL=redis_url, KEFU_RASA_PORT=str(port)), session_persistence=True)
    clock = Clock()
    channel.addresses = AddressLimits(channel.redis, 0, 1, clock=clock)
    asked: list[str] = []
    refused: list[str] = []

    async def watched(page) -> None:
        await page.clock.install()  # the page's waits pass when the test says

        def on_socket(ws) -> None:
            ws.on("framesent", lambda frame: asked.append(frame) if "session_request" in str(frame) else None)
            ws.on("framereceived", lambda frame: refused.append(frame) if "session_refused" in str(frame) else None)
        page.on("websocket", on_socket)

    async with chat_served(channel, port) as open_page:
        other = Page()
        assert await other.open(f"http://127.0.0.1:{port}") is None
        assert await other.new_session(), "the network's one new session this minute"
        page = await open_page(watched)
        await page.clock.pause_at(datetime.now() + timedelta(seconds=1))  # its waits: only when run_for

        async def answered(n: int) -> bool:
            return len(asked) == len(refused) == n

        async def answered_at_least(n: int) -> bool:
            return len(refused) >= n

        await until(lambda: answered(1), what="the page refused a new session")
        sid = next(s for s in channel.sio.manager.rooms["/"][None] if s != other.sio.get_sid())
        await channel.sio.disconnect(sid)  # as after a lost connection: the page reconnects and asks
        await until(lambda: answered(2), what="the page, reconnected, refused again")
        await page.clock.run_for(15_001)  # the longest wait
        # The server answers a socket's latest request (of two side by side the earlier one gets nothing).
        await until(lambda: answered_at_least(3), what="the page, refused, asking again")
        assert len(asked) == 3, "one request per wait, however often the page reconnected"
        clock.now += 61  # the minute has passed: the page gets its session
        await page.clock.run_for(15_001)
        await page.wait_for_function("() => window.kefuChat && window.kefuChat.session()", timeout=10000)
        await other.close()


async def test_a_page_back_from_a_lost_network_is_let_in_at_its_networks_limit(redis_url, redis, caplog):  # noqa: F811
    """A phone that lost its network (a lift) connects again once it is back, while its old connection stays
    open on the server until the heartbeat gives up on it (about 45 s): at its network's limit the page was
    refused for its own old connection, and said so in its header meanwhile. The network is lost as a lift
    loses it: the page's WebSocket is closed on the page's side only, and the server hears nothing."""
    port = free_port()
    channel = WebChatInput(settings(REDIS_URL=redis_url, KEFU_RASA_PORT=str(port),
                                    KEFU_WEBCHAT_CONNECTIONS_PER_ADDRESS="2"), session_persistence=True)
    connections: list = []  # the page's WebSockets, each [page side, server side, confirmations it carried]

    async def through_a_lift(page) -> None:
        def route(ws) -> None:
            server = ws.connect_to_server()
            connection = [ws, server, 0]
            connections.append(connection)

            def to_page(message) -> None:
                connection[2] += "session_confirm" in str(message)
                ws.send(message)

            server.on_message(to_page)
            ws.on_close(lambda code, reason: None)  # the page's side closing does not reach the server
        await page.route_web_socket(re.compile(r"/socket\.io/"), route)

    async with chat_served(channel, port) as open_page:
        other = Page()  # another customer on the same network
        assert await other.open(f"http://127.0.0.1:{port}") is None
        page = await open_page(through_a_lift)
        await page.wait_for_function("() => window.kefuChat && window.kefuChat.session()", timeout=15000)
        session_id = await session_of(page)
        with caplog.at_level(logging.INFO, logger="bot.channels.webchat_addresses"):
            await connections[0][0].close()  # into the lift

            async def confirmed_again() -> bool:
                return len(connections) > 1 and connections[-1][2] > 0

            await until(confirmed_again, timeout=20, what="the page back to be let in and resume its session")
        assert await session_of(page) == session_id
        assert await page.locator("#status").inner_text() == strings()["status_online"]
        assert any("webchat.address.replaced" in r.getMessage() for r in caplog.records), \
            "the server still had the page's old connection when the page came back"
        assert await open_count(redis) == 2, "the page counts once"
        await other.close()
