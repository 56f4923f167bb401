"""A reply to a page on the worker that sends it does not wait for Redis (``RoomsAcrossWorkers``).

Found in a fault review: with Redis hung (stopped, a network partition: it refuses nothing) every
message to a web-chat page waited ``KEFU_REDIS_TIMEOUT_SECONDS`` for its publish on the rooms channel
before it was delivered to the page connected to the same worker: a turn's three messages came one
timeout apart, and a new session's confirmation two timeouts late (the whole-stack fault test measured
6 s of a 14 s apology turn). Now a worker delivers to its own sockets at once and publishes for the
other workers beside the turn.

Served in process with the page's real Socket.IO client, on a Redis server of the module's own:
``CLIENT PAUSE`` makes it answer nobody.
"""
from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import time

from rasa.core.channels.channel import UserMessage

from bot import settings as settings_module
from bot.handoff.presence import customer_pages_key
from bot.observability.logging_setup import route_library_loggers
from tests.channels.test_webchat_addresses import channel_with
from tests.channels.test_webchat_addresses_faults import TIMEOUT_S, pause
from tests.channels.test_webchat_socketio import ChatClient
from tests.channels.test_webchat_inflight import (  # noqa: F401
    Assistant, message, page, secrets_in_environment, served, until)
from tests.channels.test_webchat_rooms import heard_after_marker
from tests.ops.test_logging import configured
from tests.handoff.conftest import redis  # noqa: F401  the same real Redis fixture
from tests.paused_redis import redis_url  # noqa: F401,F811 - a server of its own: CLIENT PAUSE stops it all

PARTS = ["您好", "请问是哪里的宽带？", "我帮您查一下"]


class ThreeParts(Assistant):
    """Answers with three messages, as a turn that says a few things does."""

    async def __call__(self, message: UserMessage) -> None:
        self.heard.append(message)
        for text in PARTS:
            await message.output_channel.send_response(message.sender_id, {"text": text})


async def test_with_redis_hung_a_turn_s_replies_reach_the_page_on_the_same_worker_without_waiting_for_it(
        redis_url, redis, monkeypatch):  # noqa: F811
    monkeypatch.setenv("KEFU_REDIS_TIMEOUT_SECONDS", str(TIMEOUT_S))
    settings_module.get_settings.cache_clear()
    async with served(channel_with(redis_url), ThreeParts()) as url, page(url) as chat:
        await pause(redis_url)
        started = time.monotonic()
        await chat.sio.emit("user_uttered", {"message": "宽带断了", "session_id": chat.session_id})
        replies = await chat.replies_until(lambda m: m.get("text") == PARTS[-1], timeout=10)
        took = time.monotonic() - started
        # Before the turn the message still waits for Redis once (taken once, its rate, the page seen: side
        # by side); its three replies waited one timeout each for their publish on top.
        assert [r.get("text") for r in replies] == PARTS
        assert took < 2 * TIMEOUT_S, f"with Redis hung, the turn's replies took {took:.1f} s to reach the page"

        await redis.ping()  # the pause is over
        assert await heard_after_marker(redis, chat, chat.session_id) == [], "a reply came again after Redis answered"


async def test_a_tab_opened_while_redis_was_down_is_counted_once_it_is_back(redis_url, redis, monkeypatch):  # noqa: F811
    """Found in review: a second tab of a conversation that connected during a Redis outage was never counted
    open once Redis was back (until it showed a sign of life of its own, which a widget may never do): the
    first tab counted as the only one, and what the customer typed there was not shown in the second. The
    worker now writes what it owes as soon as Redis answers."""
    monkeypatch.setenv("KEFU_REDIS_TIMEOUT_SECONDS", str(TIMEOUT_S))
    settings_module.get_settings.cache_clear()
    async with served(channel_with(redis_url), Assistant()) as first_url, \
            served(channel_with(redis_url), Assistant()) as second_url, page(first_url) as here:
        await pause(redis_url, 3000)
        there = ChatClient(second_url, ["websocket"])  # a duplicated tab, on another worker
        await there.sio.connect(second_url, socketio_path="socket.io", transports=["websocket"],
                                wait_timeout=3 * TIMEOUT_S)  # its connection's check waits for Redis once
        try:
            await there.sio.emit("session_request", {"session_id": here.session_id})
            await asyncio.wait_for(there.confirmed.wait(), 10)
            await redis.ping()  # the outage is over
            pages = customer_pages_key(here.session_id)

            async def both_counted() -> bool:
                return await redis.zscore(pages, there.sio.get_sid()) is not None

            await until(both_counted, 15, "the tab opened during the outage to be counted open")
            assert await here.sio.call("user_uttered", message(here.session_id, "宽带断了"), timeout=10) == {"ok": True}

            async def shown_there() -> bool:
                return [t["message"] for t in there.typed] == ["宽带断了"]

            await until(shown_there, 10, "the customer's message to show in the other tab")
        finally:
            await there.close()


@contextlib.contextmanager
def a_fresh_process_s_console():
    """What a Kefu server writes to its console, its logging set up as it does (``configure_logging``, then
    the ops channel's ``route_library_loggers``, before the web chat's server is made); yields a function
    reading it. The Socket.IO and Engine.IO loggers start as in a new process (another test's server may
    have changed them)."""
    names = ("socketio.server", "engineio.server")
    before = {name: (logging.getLogger(name).handlers[:], logging.getLogger(name).level) for name in names}
    for name in names:
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).setLevel(logging.NOTSET)
    try:
        with contextlib.redirect_stderr(io.StringIO()) as stderr, configured("console") as kefu_s:
            route_library_loggers()
            yield lambda: kefu_s.getvalue() + stderr.getvalue()
    finally:
        for name, (handlers, level) in before.items():
            logging.getLogger(name).handlers[:] = handlers
            logging.getLogger(name).setLevel(level)


async def test_socketio_s_error_in_a_redis_outage_is_one_line_in_kefu_s_format_and_no_typed_text_is_logged(
        redis_url, redis):  # noqa: F811
    """Found in review: python-socketio put a console handler of its own on ``socketio.server`` when the web
    chat's server was made (after Kefu's log clean-up), so its errors, ``Cannot receive from redis`` at every
    Redis outage first, were printed twice: once raw, once in Kefu's format."""
    typed = "我家宽带密码是多少"
    with a_fresh_process_s_console() as console:
        async with served(channel_with(redis_url), Assistant()) as url, page(url) as chat:
            assert await chat.sio.call("user_uttered", message(chat.session_id, typed), timeout=10) == {"ok": True}
            assert await redis.execute_command("CLIENT", "KILL", "TYPE", "pubsub")  # the rooms' listener, cut

            async def logged() -> bool:  # a raw copy is written before it (the library's logger's own handler)
                return "Cannot receive from redis... retrying in 1 secs [socketio.server]" in console()

            await until(logged, 10, "Socket.IO to say it lost its Redis listener")
        lines = [line for line in console().splitlines() if "Cannot receive from redis" in line]
        assert len(lines) == 1 and "[error" in lines[0], lines
        assert typed not in console()
