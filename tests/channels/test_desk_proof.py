"""The service password never reaches the agent or Redis when a customer has to prove who they are
to an agent (found by a tester, HIGH 2: the desk had no way to verify a customer, so the agent asked;
WeChat showed "135790" on the desk, and both channels stored it in the tracker and in Redis).

Through the real servers: the desk's 请客户验证身份 has the bot ask and check (web chat: the masked
numeric input), and a password typed to an agent who asked for it is blanked wherever it is kept.
"""
from __future__ import annotations

import asyncio
import json
import threading
import uuid

import pytest
import redis

from tests.channels.test_handoff_every_channel import _queued, tracker, until
from tests.channels.test_webchat_socketio import ChatClient, queued
from tests.channels.wechat_client import new_msg_id, new_openid, text_xml
from tests.handoff.stack_client import Desk

pytestmark = pytest.mark.slow

PASSWORD = "135790"  # 张伟's service password in the demo data (content/demo/seed.yml)
PHONE = "13800000001"


class RedisCommands:
    """Every command Redis receives while the test runs (MONITOR), so a secret written and later
    overwritten is still caught. Works on the embedded Redis and on CI's redis-server alike (the
    latter keeps no append-only file to read back)."""

    def __init__(self, url: str):
        self._url = url
        self._marker = f"kefu-test-monitor-{uuid.uuid4().hex}"
        self._commands: list[str] = []
        self._marks: set[str] = set()
        self._reached = threading.Condition()
        self._thread = threading.Thread(target=self._record, daemon=True)

    def __enter__(self) -> "RedisCommands":
        self._thread.start()
        self._mark()  # recording from here on
        return self

    def __exit__(self, *exc) -> None:
        redis.Redis.from_url(self._url).echo(f"{self._marker}-stop")
        self._thread.join(10)

    def _record(self) -> None:
        with redis.Redis.from_url(self._url).monitor() as monitor:
            while (command := monitor.next_command()["command"]) != f"ECHO {self._marker}-stop":
                if self._marker not in command:
                    self._commands.append(command)
                    continue
                with self._reached:
                    self._marks.add(command)
                    self._reached.notify_all()

    def _mark(self) -> None:
        """Returns once the recorder has read a marker sent now: every earlier command is recorded."""
        client = redis.Redis.from_url(self._url)
        for attempt in range(20):  # again until read: MONITOR may not have begun the first time
            mark = f"ECHO {self._marker}-{uuid.uuid4().hex}"
            client.echo(mark.removeprefix("ECHO "))
            with self._reached:
                if self._reached.wait_for(lambda: mark in self._marks, 0.5):
                    return
        raise AssertionError("Redis MONITOR recorded nothing")

    def seen(self) -> list[str]:
        self._mark()
        return list(self._commands)


@pytest.fixture
def redis_commands(running_kefu):
    with RedisCommands(running_kefu.redis_url) as commands:
        yield commands


def stored_anywhere(stack, commands: RedisCommands, conversation_id: str, secret: str) -> list[str]:
    """Where ``secret`` is kept for the conversation: its tracker (Rasa's API) and any Redis command."""
    found = ["tracker"] if secret in json.dumps(tracker(stack, conversation_id), ensure_ascii=False) else []
    seen = commands.seen()
    assert any(conversation_id in command for command in seen), "the conversation's commands were recorded"
    found += ["redis"] * any(conversation_id in command and secret in command for command in seen)
    return found


async def test_the_agent_has_the_bot_verify_a_web_chat_customer_and_never_reads_the_password(running_kefu, redis_commands):
    chat = ChatClient(running_kefu.settings.rasa_url, ["websocket"])
    session_id = await chat.connect()
    try:
        await chat.say("转人工")
        await chat.replies_until(queued, 60)
        desk = await asyncio.to_thread(Desk, running_kefu)
        await desk.claim(session_id)

        asked = await desk("POST", f"conversations/{session_id}/proof")
        assert asked.ok, asked.text
        assert asked.json()["state"] == "asked_number"  # nobody known yet: the number first, as the bot asks
        await chat.replies_until(lambda m: "手机号" in (m.get("text") or ""), 60)
        await chat.say(PHONE)
        prompt = await chat.replies_until(lambda m: "验证码" in (m.get("text") or ""), 60)
        assert prompt[-1].get("input") == "proof", "the page switches to the masked numeric input"

        await chat.say("000000")  # a wrong answer: the bot says so, the agent reads 验证未通过
        await chat.replies_until(lambda m: "不正确" in (m.get("text") or ""), 60)
        await chat.say(PASSWORD)
        await chat.replies_until(lambda m: "已核实您的身份" in (m.get("text") or ""), 60)

        turns = (await desk("GET", f"conversations/{session_id}/messages?after=-1")).json()["turns"]
        assert not any(PASSWORD in turn["text"] for turn in turns)
        assert any(turn["who"] == "customer" and turn["text"] == "******" for turn in turns)
        assert [turn["proof"] for turn in turns if turn.get("proof")] == ["failed", "passed"], \
            "the agent is told how each answer went"
        view = (await desk("GET", f"conversations/{session_id}")).json()
        assert (view.get("customer") or {}).get("name") == "张伟", "the customer view names the proven customer"
        glance = await desk("GET", f"conversations/{session_id}/customer")
        assert glance.ok and glance.json().get("verified") is True, glance.text
        assert stored_anywhere(running_kefu, redis_commands, session_id, PASSWORD) == []
        assert (await desk("POST", f"conversations/{session_id}/close", disposition="resolved")).ok
    finally:
        await chat.close()


async def test_a_password_typed_to_an_agent_on_wechat_is_shown_and_stored_masked(running_kefu, redis_commands, wechat, wechat_api):
    openid = new_openid()
    assert (await asyncio.to_thread(wechat.post, text_xml(openid, "转人工", new_msg_id()))).status == 200
    await until(lambda: _queued(running_kefu, openid), 60, "the WeChat follower to be queued")
    desk = await asyncio.to_thread(Desk, running_kefu)
    await desk.claim(openid)
    asking = "麻烦先核实一下身份，请回复您的6位服务密码"
    assert (await desk("POST", f"conversations/{openid}/messages", text=asking)).ok
    assert (await asyncio.to_thread(wechat.post, text_xml(openid, PASSWORD, new_msg_id()))).status == 200
    assert (await asyncio.to_thread(wechat.post, text_xml(openid, f"我的服务密码是{PASSWORD}", new_msg_id()))).status == 200

    async def both_shown() -> list[dict]:
        turns = (await desk("GET", f"conversations/{openid}/messages?after=-1")).json()["turns"]
        customer = [turn for turn in turns if turn["who"] == "customer"]
        return customer if len(customer) >= 3 else []

    customer = await until(both_shown, 60, "the follower's messages on the desk")
    assert [turn["text"] for turn in customer[-2:]] == ["******", "我的服务密码是******"]
    assert stored_anywhere(running_kefu, redis_commands, openid, PASSWORD) == []

    # The agent has the bot verify the follower instead: the prompts go out on WeChat.
    asked = await desk("POST", f"conversations/{openid}/proof")
    assert asked.ok and asked.json()["state"] == "asked_number", asked.text

    def sent(words: str) -> bool:
        return any(words in (m.get("text") or {}).get("content", "") for m in wechat_api.sent_to(openid))

    await until(lambda: asyncio.to_thread(sent, "手机号"), 60, "the bot's question on WeChat")
    for text in (PHONE, PASSWORD):
        assert (await asyncio.to_thread(wechat.post, text_xml(openid, text, new_msg_id()))).status == 200

    async def proven() -> bool:
        turns = (await desk("GET", f"conversations/{openid}/messages?after=-1")).json()["turns"]
        return any(turn.get("proof") == "passed" for turn in turns)

    await until(proven, 60, "the bot's check of the follower's password")
    assert stored_anywhere(running_kefu, redis_commands, openid, PASSWORD) == []
    assert (await desk("POST", f"conversations/{openid}/close", disposition="resolved")).ok
