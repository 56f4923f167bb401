"""Pages that go away, the ways a browser does, end their Socket.IO requests without a server error.

Served in process: the web chat channel on a Sanic server of its own and a real Redis, with the page's real
Socket.IO client, or the raw Engine.IO requests a browser makes. Every connection the page opened is waited
for until the server has finished with it (Sanic's ``http.lifecycle.complete``), then the logs are read.
"""
from __future__ import annotations

import contextlib
import json
import logging

import aiohttp
import pytest
import socketio
from sanic import Sanic

from bot.channels.webchat import WebChatInput
from bot.embedded_redis import free_port
from bot.security.log_masking import pseudonym
from tests.channels.test_channel_config import settings
from tests.channels.test_webchat_inflight import (  # noqa: F401  secrets_in_environment: autouse, signed sessions
    Assistant, secrets_in_environment, until)
from tests.handoff.conftest import redis, redis_url  # noqa: F401  the same real Redis fixtures
from tests.sanic_served import served_app


class Connections:
    """How many HTTP connections the server has taken and finished with (websockets included)."""

    def __init__(self, app: Sanic) -> None:
        self.begun = self.completed = 0

        @app.signal("http.lifecycle.begin")
        async def begun(**_context) -> None:
            self.begun += 1

        @app.signal("http.lifecycle.complete")
        async def completed(**_context) -> None:
            self.completed += 1

    async def all_finished(self) -> bool:
        return self.begun > 0 and self.completed == self.begun


@contextlib.asynccontextmanager
async def served_chat(redis_url: str):  # noqa: F811
    """The web chat on a server of its own; yields its base URL, its channel and its connection counts."""
    channel = WebChatInput(settings(REDIS_URL=redis_url), session_persistence=True)
    app = Sanic(f"webchat_disconnects_{free_port()}")
    app.blueprint(channel.blueprint(Assistant()), url_prefix="/webhooks/webchat")
    connections = Connections(app)
    async with served_app(app) as url:
        yield url, channel, connections


def server_errors(records: list[logging.LogRecord]) -> list[str]:
    """What Sanic logged as errors (the ServerError of a handler without a response, a 500, an uncaught one)."""
    return [f"{r.name}: {r.getMessage()} {r.exc_info[1]!r}" if r.exc_info else f"{r.name}: {r.getMessage()}"
            for r in records if r.name.startswith("sanic") and r.levelno >= logging.ERROR]


def engineio_url(url: str, sid: str | None = None, transport: str = "polling") -> str:
    return f"{url}/socket.io/?EIO=4&transport={transport}" + (f"&sid={sid}" if sid else "")


async def open_polling(http: aiohttp.ClientSession, url: str) -> str:
    """A page's first requests: an Engine.IO session over long-polling, connected to the default namespace."""
    async with http.get(engineio_url(url)) as opened:
        sid = json.loads((await opened.text())[1:])["sid"]
    async with http.post(engineio_url(url, sid), data="40") as connecting:
        assert connecting.status == 200
    async with http.get(engineio_url(url, sid)) as connected:
        assert (await connected.text()).startswith("40")
    return sid


@pytest.mark.parametrize("transports", [["websocket"], ["polling", "websocket"]], ids=["websocket", "upgraded"])
async def test_a_page_that_closes_its_websocket_leaves_no_server_error(redis_url, redis, caplog, transports):  # noqa: F811
    """Every page leaving over a websocket logged ``ServerError: Invalid response type None``."""
    async with served_chat(redis_url) as (url, channel, connections):
        async with aiohttp.ClientSession() as http:
            page = socketio.AsyncClient(reconnection=False, http_session=http)
            confirmed = []
            page.on("session_confirm", confirmed.append)
            await page.connect(url, socketio_path="socket.io", transports=transports)
            await page.emit("session_request", {"session_id": None})
            await until(lambda: _true(confirmed), 10, "session_confirm")
            assert page.transport() == "websocket"
            await page.disconnect()
        await until(connections.all_finished, 10, "the server to finish with the page's connections")
        assert not channel.sio.eio.sockets
    assert server_errors(caplog.records) == []


async def test_a_page_closed_by_the_server_leaves_no_server_error(redis_url, redis, caplog):  # noqa: F811
    """The server ends the page's websocket (Kefu's ``sio.disconnect``: a refused session, say)."""
    async with served_chat(redis_url) as (url, channel, connections):
        async with aiohttp.ClientSession() as http:
            page = socketio.AsyncClient(reconnection=False, http_session=http)
            await page.connect(url, socketio_path="socket.io", transports=["websocket"])
            await channel.sio.disconnect(page.get_sid())
            await until(lambda: _true(not page.connected), 10, "the page to see its connection closed")
        await until(connections.all_finished, 10, "the server to finish with the page's connections")
    assert server_errors(caplog.records) == []


async def test_a_request_after_the_page_closed_its_session_is_refused_not_failed(redis_url, redis, caplog):  # noqa: F811
    """The page's close packet raced by its next poll (or a post): it was a 500 (KeyError in Engine.IO)."""
    async with served_chat(redis_url) as (url, _channel, connections):
        async with aiohttp.ClientSession() as http:
            sid = await open_polling(http, url)
            async with http.post(engineio_url(url, sid), data="1") as closing:  # Engine.IO's close packet
                assert closing.status == 200
            async with http.get(engineio_url(url, sid)) as late_poll:
                assert (late_poll.status, await late_poll.text()) == (400, f'"Invalid session {sid}"')
            second = await open_polling(http, url)
            async with http.post(engineio_url(url, second), data="1"):
                pass
            async with http.post(engineio_url(url, second), data="42[\"session_alive\"]") as late_post:
                assert late_post.status == 400
        await until(connections.all_finished, 10, "the server to finish with the page's connections")
    assert server_errors(caplog.records) == []


async def test_a_dropped_websocket_upgrade_leaves_the_page_polling(redis_url, redis, caplog):  # noqa: F811
    """The upgrade's websocket shut before its probe: the session stayed "upgrading", its polls got only
    no-ops and what the server sent it was held, and Sanic logged an uncaught error."""
    async with served_chat(redis_url) as (url, _channel, connections):
        async with aiohttp.ClientSession() as http:
            sid = await open_polling(http, url)
            upgrade = await http.ws_connect(engineio_url(url, sid, "websocket"))
            await upgrade.close()
            async with http.post(engineio_url(url, sid), data='42["session_request",{"session_id":null}]') as asked:
                assert asked.status == 200
            polled: list[str] = []

            async def confirmed() -> bool:
                async with http.get(engineio_url(url, sid)) as poll:
                    assert poll.status == 200
                    polled.append(await poll.text())
                return "session_confirm" in polled[-1]

            await until(confirmed, 10, "session_confirm over polling")
            async with http.post(engineio_url(url, sid), data="1"):
                pass
        await until(connections.all_finished, 10, "the server to finish with the page's connections")
    assert server_errors(caplog.records) == []


async def _true(value) -> bool:
    return bool(value)


async def test_a_page_polling_after_a_restart_is_one_info_line_not_an_error(redis_url, redis, caplog):  # noqa: F811
    """A page still polling with its session from before a server restart is refused (400) and reconnects:
    normal operation. Engine.IO logged ``Invalid session <sid>`` at ERROR, once per process, paging an
    operator after every restart; now one INFO line says what happened, and nothing reaches WARNING."""
    caplog.set_level(logging.INFO)
    async with aiohttp.ClientSession() as http:
        async with served_chat(redis_url) as (url, _channel, _connections):
            old_sid = await open_polling(http, url)
        async with served_chat(redis_url) as (url, _channel, connections):  # the server, restarted
            for method in (http.get, http.post):  # its next poll, and what it sends meanwhile
                async with method(engineio_url(url, old_sid), **({"data": "3"} if method == http.post else {})) as old:
                    assert old.status == 400
            assert await open_polling(http, url), "the page connects again with a new session"
            async with http.post(engineio_url(url, await open_polling(http, url)), data="1"):
                pass
            await until(connections.all_finished, 10, "the server to finish with the page's connections")
    # The sid as logged: itself, or its pseudonym once a test before this one in the process installed Kefu's
    # log masking (bot.security.log_masking), as a server does.
    logged = next((sid for sid in (old_sid, pseudonym(old_sid)) if any(sid in r.getMessage() for r in caplog.records)),
                  old_sid)
    lines = [(r.levelname, r.getMessage()) for r in caplog.records if logged in r.getMessage()]
    assert [level for level, _ in lines] == ["INFO", "INFO"], lines
    assert all(text.startswith(f"webchat.engineio.old_session_refused sid={logged} ") and "reconnects" in text
               for _, text in lines), lines
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING
            and r.name.startswith(("engineio", "socketio", "sanic", "bot.channels"))] == []


async def test_a_post_naming_no_session_is_refused_not_failed(redis_url, redis, caplog):  # noqa: F811
    """Engine.IO 4.8 failed on its own log line for a post with no session id (a scanner's): a 500, and a
    TypeError's traceback in the log."""
    async with served_chat(redis_url) as (url, _channel, connections):
        async with aiohttp.ClientSession() as http:
            async with http.post(engineio_url(url), data="3") as posted:
                assert posted.status == 400
        await until(connections.all_finished, 10, "the server to finish with the request")
    assert server_errors(caplog.records) == []
