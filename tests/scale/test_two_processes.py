"""Two Kefu Rasa server processes on one Redis serve the same conversations as one would.

Process A is the stack's own Rasa server, process B a second one on another port (conftest.py).
"""
from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.channels.test_webchat_socketio import ChatClient, queued
from tests.handoff.stack_client import DESK_HEADERS, wait_for

pytestmark = pytest.mark.slow


def say(url: str, sender: str, text: str) -> list[dict]:
    reply = requests.post(f"{url}/webhooks/rest/webhook", json={"sender": sender, "message": text}, timeout=60)
    reply.raise_for_status()
    return reply.json()


def transcript(stack, url: str, sender: str) -> list[dict]:
    from bot.security.secrets import load_secrets

    reply = requests.get(f"{url}/conversations/{sender}/tracker",
                         params={"token": load_secrets(stack.settings).rasa_token}, timeout=30)
    reply.raise_for_status()
    return reply.json()["events"]


def user_texts(events: list[dict]) -> list[str]:
    return [e["text"] for e in events if e["event"] == "user"]


def test_a_conversation_alternating_between_processes_is_complete_and_in_order(two_processes):
    stack, urls = two_processes
    sender = f"alt-{uuid.uuid4().hex[:8]}"
    script = ["你好", "光猫LOS灯一直亮红灯", "没解决", "13800000001", "帮我预约师傅上门修一下", "谢谢你"]
    answers = [say(urls[i % 2], sender, text) for i, text in enumerate(script)]
    assert all(answers), "every message was answered, on either process"
    for url in urls:  # both processes see the same whole conversation
        events = transcript(stack, url, sender)
        assert user_texts(events) == script
    # The second process continued where the first left off: the visit was booked for the
    # customer identified on the other process.
    assert any(e["event"] == "action" and e["name"] == "action_book_visit" for e in events)


def test_concurrent_messages_for_one_sender_are_each_handled_once(two_processes):
    stack, urls = two_processes
    sender = f"burst-{uuid.uuid4().hex[:8]}"
    texts = [f"你们有什么宽带套餐{n}" for n in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        replies = list(pool.map(lambda pair: say(urls[pair[0] % 2], sender, pair[1]), enumerate(texts)))
    assert all(replies)
    events = transcript(stack, urls[0], sender)
    assert sorted(user_texts(events)) == sorted(texts), "each message exactly once"
    # Turns never interleave: after each user message the bot acts before the next one starts.
    kinds = [e["event"] for e in events if e["event"] in ("user", "bot")]
    assert all(kinds[i + 1] == "bot" for i, kind in enumerate(kinds[:-1]) if kind == "user")


async def test_web_chat_on_process_a_receives_the_agent_message_sent_through_b(two_processes):
    stack, (url_a, url_b) = two_processes
    client = ChatClient(url_a, ["websocket"])
    try:
        await client.connect()
        await client.say("电视没信号")
        await client.replies_until(lambda m: True)
        await client.say("转人工")
        await client.replies_until(queued)

        def agent_sends() -> None:
            desk = requests.Session()
            desk.post(f"{url_b}/agent/api/login", headers=DESK_HEADERS, timeout=30,
                      json={"name": stack.settings.demo_agent_name,
                            "password": stack.settings.demo_agent_password}).raise_for_status()
            claimed = wait_for(lambda: desk.post(f"{url_b}/agent/api/claim", headers=DESK_HEADERS, json={},
                                                 timeout=30).json().get("conversation"))
            assert claimed["conversation_id"] == client.session_id
            sent = desk.post(f"{url_b}/agent/api/conversations/{client.session_id}/messages",
                             headers=DESK_HEADERS, json={"text": "您好，我来帮您看看"}, timeout=30)
            assert sent.ok, sent.text

        await asyncio.to_thread(agent_sends)
        messages = await client.replies_until(
            lambda m: "您好，我来帮您看看" in str(m.get("text") or "") + str(m.get("custom") or ""), timeout=20)
        assert messages
    finally:
        await client.close()


async def test_a_web_chat_message_resent_to_the_other_process_is_taken_once(two_processes):
    """The page resends an unacknowledged message after reconnecting, maybe to another process
    (bot/channels/webchat_delivery.py): the de-duplication lives in Redis, not in one process's memory."""
    stack, (url_a, url_b) = two_processes
    first, second = ChatClient(url_a, ["websocket"]), ChatClient(url_b, ["websocket"])
    try:
        session_id = await first.connect()
        message = {"message": "我家电视没信号", "session_id": session_id, "client_id": uuid.uuid4().hex}
        assert await first.sio.call("user_uttered", message, timeout=10) == {"ok": True}
        await first.replies_until(lambda m: bool(m.get("text")))
        await first.close()
        assert await second.connect(session_id) == session_id
        assert await second.sio.call("user_uttered", message, timeout=10) == {"ok": True, "duplicate": True}
        events = await asyncio.to_thread(transcript, stack, url_b, session_id)
        assert user_texts(events).count(message["message"]) == 1
    finally:
        await second.close()
