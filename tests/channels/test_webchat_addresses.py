"""One client address cannot open connections and sessions without end (README "Channels", web chat).

Found in review: Socket.IO had no limit per address. A client could open any number of connections,
each allowed 10 sessions and 30 messages a minute, or reconnect after every 10 sessions, and each turn
keeps its conversation 30 days in Redis: with ``noeviction`` a full Redis stops every channel.

Served in process on a real Redis (two channels on it stand for two worker processes), with the
page's real Socket.IO client (python-socketio), as ``test_webchat_limits``.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import socketio

from bot.channels.webchat import SESSION_REQUESTS_PER_MINUTE, WebChatInput, WebChatOutput
from bot import settings as settings_module
from bot.channels.webchat_addresses import AddressLimits
from tests.channels.test_channel_config import settings
from tests.channels.test_webchat_inflight import Assistant, secrets_in_environment, served, until  # noqa: F401
from tests.channels.test_webchat_limits import Socket
from tests.handoff.conftest import Clock, redis  # noqa: F401  the same real Redis fixtures
# A server of this module's own: a test here changes the server's ACL for a moment, which on CI's shared
# redis-server refused the other test process's commands (NOPERM: its phone calls' places were not given back).
from tests.paused_redis import redis_url  # noqa: F401,F811

CONNECTIONS = "kefu:webchat:address:connections:*"


class Page(Socket):
    """One connection: let in, or told why not."""

    def __init__(self) -> None:
        super().__init__()
        self.refused: asyncio.Queue = asyncio.Queue()
        self.sio.on("connect_error", self.refused.put)
        self.sio.on("session_refused", self.refused.put)
        self.heard: asyncio.Queue = asyncio.Queue()
        self.sio.on("bot_uttered", self.heard.put)

    async def open(self, url: str, headers: dict | None = None, wait_timeout: float = 1,
                   auth: dict | None = None) -> str | None:
        """Connect: None once let in, else the reason the server gave (``wait_timeout``: how long the
        client waits for the server to let it in, python-socketio's 1 s unless told; ``auth``: what the
        connection carries, as the chat page's page id)."""
        try:
            await self.sio.connect(url, socketio_path="socket.io", transports=["websocket"], headers=headers or {},
                                   wait_timeout=wait_timeout, auth=auth)
        except socketio.exceptions.ConnectionError:
            reason = await asyncio.wait_for(self.refused.get(), 5)  # Kefu's {"message"}, or a failed handshake's
            return reason.get("message") if isinstance(reason, dict) else str(reason)
        return None

    async def new_session(self) -> str | None:
        """A new session's id; None when the server hung up or refused (the reason in ``refused``)."""
        await self.sio.emit("session_request", {"session_id": None})
        waits = [asyncio.ensure_future(w) for w in (self.confirmed.get(), self.gone.wait(), self.refused.get())]
        done, pending = await asyncio.wait(waits, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        assert done, "neither a session, a refusal nor a hang-up"
        if waits[2] in done:
            self.refused.put_nowait(waits[2].result())  # kept for the test to read
            return None
        return waits[0].result() if waits[0] in done else None

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()


@contextlib.asynccontextmanager
async def pages():
    opened: list[Page] = []

    def make() -> Page:
        opened.append(Page())
        return opened[-1]

    try:
        yield make
    finally:
        for page in opened:
            await page.close()


def channel_with(redis_url: str, **env) -> WebChatInput:  # noqa: F811
    return WebChatInput(settings(REDIS_URL=redis_url, **env), session_persistence=True)


async def open_count(redis) -> int:  # noqa: F811
    return sum([await redis.zcard(key) async for key in redis.scan_iter(CONNECTIONS)])


async def counted(redis, connections: int) -> bool:  # noqa: F811
    return await open_count(redis) == connections


async def test_one_address_holds_at_most_its_connections_and_gets_one_back_when_a_page_closes(
        redis_url, redis, caplog):  # noqa: F811
    channel = channel_with(redis_url, KEFU_WEBCHAT_CONNECTIONS_PER_ADDRESS="3")
    async with served(channel, Assistant()) as url, pages() as page:
        first, second, third, fourth = page(), page(), page(), page()
        assert [await p.open(url) for p in (first, second, third)] == [None] * 3
        assert await third.new_session(), "a page let in chats as before"
        with caplog.at_level(logging.WARNING, logger="bot.channels.webchat_addresses"):
            assert await fourth.open(url) == "too_many_connections", "the page is told why"
            assert await page().open(url) == "too_many_connections"
        assert not fourth.sio.connected
        refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
        assert refusals == ["webchat.connection.refused reason=too_many_connections client=127.0.0.1 limit=3"], \
            "logged once a minute, not once per refusal"
        await second.close()
        await until(lambda: counted(redis, 2), what="the closed page's connection given back")
        assert await page().open(url) is None, "a closed page gave its connection back"
        assert await page().open(url) == "too_many_connections"
        for p in (first, third):
            await p.close()
        await until(lambda: counted(redis, 1), what="the closed pages' connections given back")


async def test_an_address_limit_of_0_is_off(redis_url, redis):  # noqa: F811
    channel = channel_with(redis_url, KEFU_WEBCHAT_CONNECTIONS_PER_ADDRESS="0",
                           KEFU_WEBCHAT_SESSIONS_PER_ADDRESS_PER_MINUTE="0")
    async with served(channel, Assistant()) as url, pages() as page:
        opened = [page() for _ in range(12)]
        assert [await p.open(url) for p in opened] == [None] * 12
        assert all([await p.new_session() for p in opened])
        assert await open_count(redis) == 0, "nothing counted"


async def test_a_forwarded_for_header_a_client_writes_counts_for_nothing(redis_url, redis):  # noqa: F811
    """Kefu reached directly (no SANIC_PROXIES_COUNT): every connection is the peer's, whatever it claims."""
    channel = channel_with(redis_url, KEFU_WEBCHAT_CONNECTIONS_PER_ADDRESS="2")
    async with served(channel, Assistant()) as url, pages() as page:
        claims = [{"X-Forwarded-For": f"198.51.100.{n}", "X-Real-IP": f"198.51.100.{n}",
                   "Forwarded": f"for=198.51.100.{n}"} for n in range(3)]
        assert [await page().open(url, claim) for claim in claims] == [None, None, "too_many_connections"]


async def test_behind_a_trusted_proxy_each_client_counts_and_an_ipv6_client_as_its_64(redis_url, redis):  # noqa: F811
    """As behind deploy/nginx.conf (SANIC_PROXIES_COUNT=1): the proxy's own address is everyone's, the
    address it appends is the client's."""
    channel = channel_with(redis_url, KEFU_WEBCHAT_CONNECTIONS_PER_ADDRESS="2")
    async with served(channel, Assistant(), PROXIES_COUNT=1) as url, pages() as page:
        async def from_client(address: str) -> str | None:
            # The client may write its own X-Forwarded-For; the proxy appends the address it saw.
            return await page().open(url, {"X-Forwarded-For": f"10.9.9.9, {address}"})

        assert [await from_client("203.0.113.7") for _ in range(3)] == [None, None, "too_many_connections"]
        assert await from_client("203.0.113.8") is None, "another customer is not kept out by the first"
        assert await from_client("2001:db8:1:2::1") is None
        assert await from_client("2001:db8:1:2:ffff:ffff:ffff:fffe") is None
        assert await from_client("2001:db8:1:2::3") == "too_many_connections", "one /64, one client"
        assert await from_client("2001:db8:1:3::1") is None


async def test_reconnecting_gives_an_address_no_fresh_sessions(redis_url, redis):  # noqa: F811
    """A socket asking for more than SESSION_REQUESTS_PER_MINUTE sessions is closed; a script connecting
    again had a fresh allowance with each new connection."""
    channel = channel_with(redis_url, KEFU_WEBCHAT_SESSIONS_PER_ADDRESS_PER_MINUTE="15")
    started: list[str] = []
    async with served(channel, Assistant()) as url, pages() as page:
        for _ in range(4):  # 4 connections, each as many sessions as it is allowed
            client = page()
            assert await client.open(url) is None
            for _ in range(SESSION_REQUESTS_PER_MINUTE + 1):
                session_id = await client.new_session()
                if session_id is None:
                    break
                started.append(session_id)
            await client.close()
        assert len(set(started)) == 15, "each reconnection started more conversations"
        assert client.refused.get_nowait() == {"reason": "too_many_sessions"}, "the page is told why"
        # A page resuming its own session starts no conversation and is let in.
        resumed = page()
        assert await resumed.open(url) is None
        await resumed.sio.emit("session_request", {"session_id": started[0]})
        assert await asyncio.wait_for(resumed.confirmed.get(), 10) == started[0]
    assert len([key async for key in redis.scan_iter("kefu:presence:customer:*")]) == 15


async def test_a_page_refused_a_new_session_hears_no_more_of_the_conversation_it_left(redis_url, redis):  # noqa: F811
    """新对话 wipes the page; refused the new session, the socket stayed in the old one's room, and an agent's
    words into the conversation just wiped (the last customer's, at a shared PC) appeared on the fresh page."""
    channel = channel_with(redis_url, KEFU_WEBCHAT_SESSIONS_PER_ADDRESS_PER_MINUTE="1")
    async with served(channel, Assistant()) as url, pages() as page:
        client = page()
        assert await client.open(url) is None
        left = await client.new_session()
        assert left and await client.new_session() is None, "the minute's one new session was taken"
        assert client.refused.get_nowait() == {"reason": "too_many_sessions"}
        output = WebChatOutput(channel.sio, "bot_uttered")
        await output.send_response(left, {"text": "您好，我是人工客服王芳"})
        await output.send_response(client.sio.get_sid(), {"text": "只给这个页面"})  # after it, on the same way
        assert await asyncio.wait_for(client.heard.get(), 10) == {"text": "只给这个页面"}
    assert not await redis.zcard(f"kefu:presence:pages:{left}"), "the page no longer counts as open there"


async def test_a_new_session_asked_for_twice_at_once_takes_one_from_the_address_budget(redis_url, redis):  # noqa: F811
    """新对话 pressed twice at once: the page gets one new session (the second request supersedes the first),
    but both were taken from the address's sessions a minute, and its next 新对话 was refused early."""
    channel = channel_with(redis_url, KEFU_WEBCHAT_SESSIONS_PER_ADDRESS_PER_MINUTE="2")
    async with served(channel, Assistant()) as url, pages() as page:
        client = page()
        assert await client.open(url) is None
        await client.sio.emit("session_request", {"session_id": None})
        await client.sio.emit("session_request", {"session_id": None})
        assert await asyncio.wait_for(client.confirmed.get(), 10)
        await channel.sio.emit("bot_uttered", {"text": "marker"}, room=client.sio.get_sid())  # after any answer
        assert await asyncio.wait_for(client.heard.get(), 10) == {"text": "marker"}
        assert client.confirmed.empty() and client.refused.empty(), "the first request was superseded"
        assert await client.new_session(), "the address's second session of the minute"
        assert await client.new_session() is None and client.refused.get_nowait() == {"reason": "too_many_sessions"}


PHONE = {"page": "5e1f09c2" * 3}  # the chat page's page id (chat.js): random, one per page load


async def test_a_page_back_from_a_lost_network_takes_its_old_connections_place(redis_url, redis):  # noqa: F811
    """A phone that lost its network (a lift) connects again once it is back, while its old socket stays open
    on the server until the heartbeat gives up on it (about 45 s): the page counted twice meanwhile, and at
    its network's limit it was refused for its own old socket. Here the old connection stays open, as a
    lost one does on the server; the page sends its page id with each connection, as chat.js does."""
    channel = channel_with(redis_url, KEFU_WEBCHAT_CONNECTIONS_PER_ADDRESS="2")
    async with served(channel, Assistant()) as url, pages() as page:
        lost, other = page(), page()
        assert [await lost.open(url, auth=PHONE), await other.open(url)] == [None, None]
        back = page()
        assert await back.open(url, auth=PHONE) is None, "the page back is let in, its network at its limit"
        await asyncio.wait_for(lost.gone.wait(), 10)  # the server closed the page's old socket
        assert await back.new_session(), "the page chats on"
        assert await open_count(redis) == 2
        assert await page().open(url) == "too_many_connections", "the network's limit holds"


async def test_a_page_back_on_another_worker_takes_its_old_connections_place_there(redis_url, redis):  # noqa: F811
    """The page's new connection may reach another worker than its old one: the old socket is closed where it is."""
    one, two = (channel_with(redis_url, KEFU_WEBCHAT_CONNECTIONS_PER_ADDRESS="2") for _ in range(2))
    async with served(one, Assistant()) as one_url, served(two, Assistant()) as two_url, pages() as page:
        lost = page()
        assert await lost.open(one_url, auth=PHONE) is None
        assert await page().open(two_url, auth=PHONE) is None
        await asyncio.wait_for(lost.gone.wait(), 10)
        assert await open_count(redis) == 1
        assert [await page().open(one_url) for _ in range(2)] == [None, "too_many_connections"]


async def test_a_page_back_from_another_address_gives_its_old_address_s_connection_back_at_once(
        redis_url, redis):  # noqa: F811
    """A phone whose address changed as it reconnected (Wi-Fi to 4G) took its old connection's place only at
    the same address: at the old one that socket counted on, and stayed open, until the heartbeat gave up
    on it (about 45 s), so on a Wi-Fi at its limit nobody else got in meanwhile. As behind deploy/nginx.conf
    (SANIC_PROXIES_COUNT=1): the proxy tells the client's address."""
    channel = channel_with(redis_url, KEFU_WEBCHAT_CONNECTIONS_PER_ADDRESS="1")
    wifi, mobile = {"X-Forwarded-For": "203.0.113.7"}, {"X-Forwarded-For": "198.51.100.20"}
    async with served(channel, Assistant(), PROXIES_COUNT=1) as url, pages() as page:
        lost = page()
        assert await lost.open(url, wifi, auth=PHONE) is None
        assert await page().open(url, wifi) == "too_many_connections", "the Wi-Fi at its limit"
        back = page()
        assert await back.open(url, mobile, auth=PHONE) is None, "the page back on 4G"
        assert await open_count(redis) == 1, "the page counts once, at its new address"
        assert await page().open(url, wifi) is None, "someone else on the Wi-Fi gets the page's old place"
        await asyncio.wait_for(lost.gone.wait(), 10)  # the server closed the page's old socket
        assert await back.new_session(), "the page chats on"


async def test_a_page_id_sent_with_every_connection_holds_one_connection_open(redis_url, redis):  # noqa: F811
    """A script sending one page id with all its connections is not counted once for them all: each closes
    the one before. One that is no page id (not the page's random hex) counts each connection."""
    channel = channel_with(redis_url, KEFU_WEBCHAT_CONNECTIONS_PER_ADDRESS="2")
    async with served(channel, Assistant()) as url, pages() as page:
        script = [page() for _ in range(4)]
        assert [await p.open(url, auth=PHONE) for p in script] == [None] * 4
        for closed in script[:3]:
            await asyncio.wait_for(closed.gone.wait(), 10)
        assert script[3].sio.connected and await open_count(redis) == 1
        assert [await page().open(url, auth={"page": "../" * 8}) for _ in range(2)] == [None, "too_many_connections"]


async def test_a_page_id_is_nowhere_in_redis(redis_url, redis):  # noqa: F811
    """Whoever can list Redis's keys (a monitoring login, a backup) learnt each open page's id, with which a
    connection from anywhere closed the page's socket. The page back from a lost network still takes its
    old connection's place."""
    channel = channel_with(redis_url, KEFU_WEBCHAT_CONNECTIONS_PER_ADDRESS="2")
    async with served(channel, Assistant()) as url, pages() as page:
        lost = page()
        assert await lost.open(url, auth=PHONE) is None and await lost.new_session()
        stored = [key async for key in redis.scan_iter("*")]
        stored += [await redis.get(key) for key in stored if await redis.type(key) == b"string"]
        assert not [item for item in stored if PHONE["page"].encode() in (item or b"")]
        assert await page().open(url, auth=PHONE) is None
        await asyncio.wait_for(lost.gone.wait(), 10)


async def test_the_connections_of_a_worker_that_died_stop_counting(redis_url, redis):  # noqa: F811
    """A worker killed (OOM, a crash) runs no disconnect: its sockets stop counting once it no longer vouches
    for them, while a live worker's go on counting however long they stay open."""
    clock = Clock()
    live, dead = channel_with(redis_url), channel_with(redis_url)
    for worker in (live, dead):  # renewals driven by the test, on its clock
        worker.addresses = AddressLimits(worker.redis, 3, 0, clock=clock, renew_s=3600)
    async with served(live, Assistant()) as live_url, served(dead, Assistant()) as dead_url, pages() as page:
        assert await page().open(live_url) is None
        assert [await page().open(dead_url) for _ in range(2)] == [None, None]
        assert await page().open(live_url) == "too_many_connections"
        for _ in range(4):  # an hour passes; the live worker vouches for its socket all along, the dead one not
            clock.now += 15 * 60
            await live.addresses.renew(lambda sid: live.sio.manager.is_connected(sid, "/"))
        assert [await page().open(live_url) for _ in range(3)] == [None, None, "too_many_connections"]
        assert await open_count(redis) == 3


async def test_a_connection_closed_while_redis_failed_is_given_back_once_redis_answers(redis_url, redis):  # noqa: F811
    """Redis failing as a page closed (a failover, a blip): the page's connection was not given back, and its
    worker no longer knew of it, so it went on counting until STALE_S after the last renewal (90 s) however
    soon Redis answered again: the network's next customer was refused meanwhile."""
    channel = channel_with(redis_url)
    channel.addresses = AddressLimits(channel.redis, 1, 0, renew_s=3600)  # renewals driven by the test

    async def renewal() -> None:  # as the worker vouches for its sockets every RENEW_S
        await channel.addresses.renew(lambda sid: channel.sio.manager.is_connected(sid, "/"))

    async with served(channel, Assistant()) as url, pages() as page:
        closing = page()
        assert await closing.open(url) is None
        await redis.execute_command("ACL", "SETUSER", "default", "-zrem")  # Redis refuses the give-back
        try:
            await closing.close()
            await until(lambda: gone(channel), what="the server to see the page closed")
            assert await page().open(url) == "too_many_connections", "not given back while Redis fails"
        finally:
            await redis.execute_command("ACL", "SETUSER", "default", "+@all")
        await renewal()
        assert await page().open(url) is None, "given back at the worker's next renewal"
        assert await open_count(redis) == 1


async def gone(channel: WebChatInput) -> bool:
    return not channel.sio.manager.rooms.get("/", {}).get(None)


BUSY_S = 3.0  # Redis busy this long (a slow script, a fork on a big dataset): answers come late, or too late
_BUSY = """local t = redis.call('TIME')
while true do
  local n = redis.call('TIME')
  if (n[1] - t[1]) * 1000000 + (n[2] - t[2]) > tonumber(ARGV[1]) then return 1 end
end"""


@contextlib.contextmanager
def redis_busy(redis_url: str):  # noqa: F811
    """Redis busy for BUSY_S from a client of its own; yields once it is (a PING no longer answered)."""
    import threading

    import redis as sync_redis

    busy = threading.Thread(target=lambda: sync_redis.Redis.from_url(redis_url).eval(_BUSY, 0, int(BUSY_S * 1e6)))
    busy.start()
    probe = sync_redis.Redis.from_url(redis_url, socket_timeout=0.05)
    deadline = time.monotonic() + 5
    while True:
        assert time.monotonic() < deadline, "Redis never got busy"
        try:
            probe.ping()
        except sync_redis.exceptions.TimeoutError:
            break
    try:
        yield
    finally:
        busy.join()


async def test_a_page_let_in_while_redis_was_slow_is_given_back_when_it_closes(redis_url, redis, monkeypatch):  # noqa: F811
    """Redis slower than KEFU_REDIS_TIMEOUT_SECONDS as a page connected: the page was let in unchecked, and
    Redis counted it when it got to it, but its worker did not know: closing the page gave nothing back (nor
    did the worker vouch for it while it was open), and it counted until STALE_S (90 s) after it connected:
    the network's next customer was refused meanwhile."""
    monkeypatch.setenv("KEFU_REDIS_TIMEOUT_SECONDS", "0.5")
    settings_module.get_settings.cache_clear()
    channel = channel_with(redis_url)
    # unreachable_s=0: the next check asks Redis again at once (it answers by then), as it does 5 s later.
    channel.addresses = AddressLimits(channel.redis, 2, 0, renew_s=3600, unreachable_s=0)
    async with served(channel, Assistant()) as url, pages() as page:
        assert await page().open(url) is None, "another customer's page, open all along"
        with redis_busy(redis_url):
            early = page()
            assert await early.open(url) is None, "let in unchecked"
        await redis.ping()  # Redis has got to what it was sent while busy
        await early.close()

        async def let_in() -> bool:
            return await page().open(url) is None

        await until(let_in, timeout=5, what="the network's next page let in once the page closed")
        assert await open_count(redis) == 2


async def test_a_page_gone_while_it_was_being_counted_in_does_not_go_on_counting(redis_url, redis, monkeypatch):  # noqa: F811
    """A page closed (or its connection lost) while a slow Redis counted it in: its worker gave up the count,
    Redis made it all the same, and nobody gave it back: it counted until STALE_S (90 s), and the network's
    next customer was refused meanwhile."""
    monkeypatch.setenv("KEFU_REDIS_TIMEOUT_SECONDS", "0.5")
    settings_module.get_settings.cache_clear()
    channel = channel_with(redis_url)
    channel.addresses = AddressLimits(channel.redis, 2, 0, renew_s=3600,  # renewals driven by the test
                                      unreachable_s=0)  # the next check asks Redis at once (it answers by then)
    async with served(channel, Assistant()) as url, pages() as page:
        assert await page().open(url) is None, "another customer's page, open all along"
        with redis_busy(redis_url):
            leaving = page()
            await leaving.sio.connect(url, socketio_path="socket.io", transports=["websocket"], wait=False)
            await until(lambda: connecting(channel, 2), what="the page being let in")
            await leaving.sio.disconnect()
            await until(lambda: connecting(channel, 1), what="the server to see the page gone")
        await redis.ping()  # Redis has got to what it was sent while busy
        await channel.addresses.renew(lambda sid: channel.sio.manager.is_connected(sid, "/"))  # every RENEW_S
        assert await page().open(url) is None, "the page gone counts no more"
        assert await open_count(redis) == 2


async def connecting(channel: WebChatInput, sockets: int) -> bool:
    """Whether the server has ``sockets`` sockets connected or being let in."""
    return len(channel.sio.manager.rooms.get("/", {}).get(None) or {}) == sockets
