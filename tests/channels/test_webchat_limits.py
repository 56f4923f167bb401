"""One Socket.IO connection cannot get around the web chat's limits by asking for new sessions.

Served in process on a real Redis, with the stand-in assistant of ``test_webchat_inflight`` and the
page's real Socket.IO client (python-socketio). Found in review: the message limit counted per
session only, and a socket could ask for a fresh session (with a fresh allowance) as often as it
liked, each one a new conversation with its presence keys kept a week in Redis.
"""
from __future__ import annotations

import asyncio
import uuid

import socketio

from bot.channels.webchat import SESSION_REQUESTS_PER_MINUTE, WebChatInput
from tests.channels.test_channel_config import settings
from tests.channels.test_webchat_inflight import Assistant, secrets_in_environment, served  # noqa: F401
from tests.handoff.conftest import redis, redis_url  # noqa: F401  the same real Redis fixtures


class Socket:
    """One connection, asking for sessions and sending messages as a script would."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.confirmed: asyncio.Queue = asyncio.Queue()
        self.gone = asyncio.Event()
        self.sio.on("session_confirm", self.confirmed.put)
        self.sio.on("disconnect", self.gone.set)

    async def new_session(self) -> str | None:
        """Ask for a new session: its id, or None when the server hung up instead."""
        await self.sio.emit("session_request", {"session_id": None})
        confirm = asyncio.ensure_future(self.confirmed.get())
        hung_up = asyncio.ensure_future(self.gone.wait())
        done, pending = await asyncio.wait({confirm, hung_up}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        assert done, "neither a session nor a hang-up"
        return confirm.result() if confirm in done else None

    async def say(self, session_id: str, text: str) -> dict:
        return await self.sio.call("user_uttered", {"message": text, "session_id": session_id,
                                                    "client_id": uuid.uuid4().hex}, timeout=10)


async def test_a_new_session_gives_a_socket_no_fresh_message_allowance(redis_url, redis):  # noqa: F811
    channel = WebChatInput(settings(REDIS_URL=redis_url), session_persistence=True, messages_per_minute=3)
    assistant = Assistant()
    async with served(channel, assistant) as url:
        client = Socket()
        await client.sio.connect(url, socketio_path="socket.io", transports=["websocket"])
        try:
            acks = []
            for n in range(6):  # under the session-request limit: each message in a session of its own
                session_id = await client.new_session()
                acks.append(await client.say(session_id, f"第{n}条"))
        finally:
            await client.sio.disconnect()
    assert acks[:3] == [{"ok": True}] * 3
    assert acks[3:] == [{"ok": False, "reason": "rate_limited"}] * 3, "a new session reset the limit"
    await asyncio.sleep(0.2)  # accepted messages are handled after their ack
    assert len(assistant.heard) == 3


async def test_a_socket_asking_for_session_after_session_is_disconnected(redis_url, redis):  # noqa: F811
    channel = WebChatInput(settings(REDIS_URL=redis_url), session_persistence=True)
    async with served(channel, Assistant()) as url:
        client = Socket()
        await client.sio.connect(url, socketio_path="socket.io", transports=["websocket"])
        sessions = []
        try:
            for _ in range(SESSION_REQUESTS_PER_MINUTE + 20):
                session_id = await client.new_session()
                if session_id is None:
                    break
                sessions.append(session_id)
        finally:
            await client.sio.disconnect()
    assert len(set(sessions)) == SESSION_REQUESTS_PER_MINUTE, "one socket kept starting conversations"
    assert client.gone.is_set()
    seen = [key async for key in redis.scan_iter("kefu:presence:customer:*")]
    assert len(seen) == SESSION_REQUESTS_PER_MINUTE


async def test_messages_refused_for_the_rate_leave_nothing_kept_in_redis(redis_url, redis):  # noqa: F811
    """Found in review: each refused message still left its delivery key, kept a day: a script sending
    as fast as it could filled Redis although none of its messages was taken."""
    channel = WebChatInput(settings(REDIS_URL=redis_url), session_persistence=True, messages_per_minute=3)
    async with served(channel, Assistant()) as url:
        client = Socket()
        await client.sio.connect(url, socketio_path="socket.io", transports=["websocket"])
        try:
            session_id = await client.new_session()
            acks = [await client.say(session_id, f"第{n}条") for n in range(12)]
        finally:
            await client.sio.disconnect()
    assert acks.count({"ok": True}) == 3
    assert len([key async for key in redis.scan_iter("kefu:webchat:delivered:*")]) == 3
    assert not await redis.hlen("kefu:webchat:inflight")
