"""Exactly-once delivery over real Socket.IO (python-socketio client) against the running server:
the page resends a message it has no ack for after every reconnect, so the server must take each
(conversation, client id) once — on a new connection too, as after a lost signal."""
from __future__ import annotations

import asyncio

import pytest

from tests.channels.test_webchat_socketio import ChatClient, chat  # noqa: F401 - the fixture
from tests.handoff.stack_client import tracker

pytestmark = pytest.mark.slow


async def customer_turns(stack, session_id: str, text: str) -> int:
    events = (await asyncio.to_thread(tracker, stack, session_id))["events"]
    return sum(1 for e in events if e.get("event") == "user" and e.get("text") == text)


async def test_a_resent_message_is_acknowledged_and_taken_once(chat, running_kefu):  # noqa: F811
    first = chat()
    session_id = await first.connect()
    message = {"message": "我家的电视没信号了", "session_id": session_id, "client_id": "c0ffee0123456789abcd"}
    assert await first.sio.call("user_uttered", message, timeout=10) == {"ok": True}
    await first.replies_until(lambda m: bool(m.get("text")))
    await first.close()

    # The ack was lost with the signal: the page resends on its next connection.
    second = chat()
    assert await second.connect(session_id) == session_id
    assert await second.sio.call("user_uttered", message, timeout=10) == {"ok": True, "duplicate": True}
    assert await customer_turns(running_kefu, session_id, message["message"]) == 1

    other = {**message, "client_id": "c0ffee0123456789abce"}  # the same words typed again are a new message
    assert await second.sio.call("user_uttered", other, timeout=10) == {"ok": True}
    await second.replies_until(lambda m: bool(m.get("text")))
    assert await customer_turns(running_kefu, session_id, message["message"]) == 2


async def test_a_refused_message_is_acknowledged_as_refused(chat):  # noqa: F811
    client = chat()
    await client.connect()
    reply = await client.sio.call("user_uttered", {"message": "网" * 2001, "session_id": client.session_id,
                                                   "client_id": "abcdef0123456789"}, timeout=10)
    assert reply == {"ok": False, "reason": "too_long"}, "the page stops resending; the notice says why"
