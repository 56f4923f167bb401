"""Kefu's chat page open in more than one tab of a conversation, in a real Chromium.

Served in process on a real Redis, as ``test_webchat_addresses_browser`` (its ``chat_served``). A second
tab of a conversation is a duplicated tab: Chromium copies the tab's sessionStorage, where the page keeps
its conversation. What the channel sends each tab is tested without a browser (``test_webchat_rooms``,
``test_webchat_resume``); these check what the customer sees.
"""
from __future__ import annotations

import asyncio
import json
import time

import pytest
from rasa.core.agent import Agent
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, UserUttered

from bot.channels.webchat import WebChatInput
from bot.embedded_redis import free_port
from bot.lock_store import AsyncRedisLockStore
from tests.channels.test_channel_config import settings
from tests.channels.test_webchat_addresses_browser import chat_served, session_of, strings
from tests.channels.test_webchat_inflight import Assistant, secrets_in_environment  # noqa: F401
from tests.channels.test_webchat_resume import THANKS
from tests.channels.test_webchat_socketio import ChatClient
from tests.handoff.conftest import redis, redis_url  # noqa: F401  the same real Redis fixtures

pytestmark = [pytest.mark.browser]

MARKER = "（以下无新消息）"


def duplicate_of(storage: str):
    """Prepares a page as Chromium's "duplicate tab" does: with a copy of the tab's sessionStorage."""
    async def prepare(page) -> None:
        await page.add_init_script(f"""(() => {{
            if (sessionStorage.getItem('kefu.webchat.session')) {{ return; }}
            const copied = {storage};
            Object.keys(copied).forEach((key) => sessionStorage.setItem(key, copied[key]));
        }})()""")
    return prepare


async def storage_of(page) -> str:
    return json.dumps(await page.evaluate("() => Object.assign({}, sessionStorage)"), ensure_ascii=False)


async def say(page, text: str) -> None:
    await page.get_by_placeholder("请输入您的问题").fill(text)
    await page.keyboard.press("Enter")


async def test_a_message_refused_for_the_rate_is_explained_in_the_tab_that_sent_it_only(redis_url, redis):  # noqa: F811
    """Found by the maintainers: a duplicated tab showed 您发送得太快啦 (or 消息太长了) under nothing the
    customer had written there; the refused message itself is shown nowhere else."""
    port = free_port()
    channel = WebChatInput(settings(REDIS_URL=redis_url, KEFU_RASA_PORT=str(port)), session_persistence=True,
                           messages_per_minute=1)
    async with chat_served(channel, port) as open_page:
        here = await open_page()
        await here.wait_for_function("() => window.kefuChat && window.kefuChat.session()", timeout=15000)
        session_id = await session_of(here)
        there = await open_page(duplicate_of(await storage_of(here)))
        await there.wait_for_function(f"() => window.kefuChat && window.kefuChat.session() === '{session_id}'",
                                      timeout=15000)
        await say(here, "宽带断了")
        await there.locator(".msg.user", has_text="宽带断了").wait_for(timeout=15000)  # shown in both tabs
        await there.locator(".msg.bot").get_by_text("您好", exact=True).wait_for(timeout=15000)
        await say(here, "在吗")  # the conversation's one message a minute is spent
        refused = strings()["notice_rate_limited"]
        await here.locator(".notice", has_text=refused).wait_for(timeout=15000)
        # Said to the conversation after the refusal: each tab has been sent all before it when it shows this.
        await channel.sio.emit("bot_uttered", {"text": MARKER}, room=session_id, namespace="/")
        await there.locator(".msg.bot", has_text=MARKER).wait_for(timeout=15000)
        assert await there.locator(".notice").count() == 0, "the other tab explained a message it never showed"
        assert await there.locator(".msg.user", has_text="在吗").count() == 0
        assert await here.locator(".notice", has_text=refused).count() == 1


class AnswersWhenLetGo(Assistant):
    """Rasa's turn as it stores the customer's message (under its Rasa message id), answering once let go."""

    def __init__(self, agent: Agent) -> None:
        super().__init__()
        self.agent = agent
        self.let_go = asyncio.Event()
        self.let_go.set()

    async def __call__(self, message) -> None:
        self.heard.append(message)
        async with self.agent.lock_store.lock(message.sender_id):
            tracker = await self.agent.tracker_store.get_or_create_tracker(message.sender_id)
            tracker.update(UserUttered(message.text, message_id=message.message_id, timestamp=time.time()))
            await self.let_go.wait()
            said = BotUttered(THANKS, timestamp=time.time())
            tracker.update(said)
            await message.output_channel.send_response(message.sender_id, said.message())
            await self.agent.tracker_store.save(tracker)


async def test_a_widget_s_message_shows_once_in_a_kefu_tab_reloaded_before_its_answer(redis_url, redis):  # noqa: F811
    """A third-party Rasa widget sends no client id. Its message reached a Kefu tab of the conversation live
    without one, and was replayed to the tab reloaded before the answer with the server's: the tab showed
    it twice."""
    host, port_db = redis_url.removeprefix("redis://").split(":")
    redis_port, db = port_db.split("/")
    agent = Agent(domain=Domain.empty(), tracker_store=InMemoryTrackerStore(Domain.empty()),
                  lock_store=AsyncRedisLockStore(host=host, port=int(redis_port), db=int(db)))
    assistant = AnswersWhenLetGo(agent)
    port = free_port()
    channel = WebChatInput(settings(REDIS_URL=redis_url, KEFU_RASA_PORT=str(port)), session_persistence=True)
    async with chat_served(channel, port, assistant, agent) as open_page:
        page = await open_page()
        await page.wait_for_function("() => window.kefuChat && window.kefuChat.session()", timeout=15000)
        await say(page, "你好")
        await page.locator(".msg.bot", has_text=THANKS).wait_for(timeout=15000)  # the tab has seen this far
        widget = ChatClient(f"http://127.0.0.1:{port}", ["websocket"])
        await widget.connect(await session_of(page))
        try:
            assistant.let_go.clear()  # the answer comes after the reload
            assert await widget.sio.call("user_uttered", {"message": "宽带连不上", "session_id": widget.session_id},
                                         timeout=10) == {"ok": True}
            typed = page.locator(".msg.user", has_text="宽带连不上")
            await typed.wait_for(timeout=15000)
            await page.reload()
            assistant.let_go.set()
            await page.locator(".msg.bot", has_text=THANKS).nth(1).wait_for(timeout=20000)  # replayed
            assert await typed.count() == 1, "the tab showed the widget's message twice"
            assert await page.locator(".msg.bot", has_text=THANKS).count() == 2
        finally:
            await widget.close()
