"""A page that comes back while a turn is running gets every reply of it once.

Served in process on a real Redis: the web chat channel with Kefu's Redis lock store, and a stand-in
for Rasa's turn that does what Rasa's does (under the conversation's lock, each reply sent into the
conversation's room as it is said, the turn stored at its end). Found in review: a page resuming
mid-turn (a phone back from a lift while the assistant answered) was sent what the tracker held,
which did not hold the replies said while it was away yet, and never got them.
"""
from __future__ import annotations

import asyncio
import time
import uuid

import socketio
from rasa.core.agent import Agent
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, UserUttered

from bot.channels.webchat import WebChatInput
from bot.lock_store import AsyncRedisLockStore
from tests.channels.test_channel_config import settings
from tests.channels.test_webchat_inflight import Assistant, secrets_in_environment, served, until  # noqa: F401
from tests.channels.test_webchat_socketio import ChatClient
from tests.handoff.conftest import redis, redis_url  # noqa: F401  the same real Redis fixtures

FIRST, SECOND, THANKS = "请先重启光猫。", "还不行的话请回复“没解决”。", "不客气。"


class Turning(Assistant):
    """Rasa's turn, slowed down: the first message's second reply waits until the page has gone."""

    def __init__(self, agent: Agent) -> None:
        super().__init__()
        self.agent = agent
        self.page_gone = asyncio.Event()
        self.said_second = asyncio.Event()

    async def __call__(self, message) -> None:
        self.heard.append(message)
        first = len(self.heard) == 1
        async with self.agent.lock_store.lock(message.sender_id):
            tracker = await self.agent.tracker_store.get_or_create_tracker(message.sender_id)
            tracker.update(UserUttered(message.text))
            for text in ((FIRST, SECOND) if first else (THANKS,)):
                if text == SECOND:
                    await self.page_gone.wait()
                said = BotUttered(text, timestamp=time.time())
                tracker.update(said)
                await message.output_channel.send_response(message.sender_id, said.message())
            if first:
                self.said_second.set()
                await asyncio.sleep(0.5)  # the rest of the turn (an action, the next prediction)
            await self.agent.tracker_store.save(tracker)


async def test_a_page_back_during_a_turn_gets_the_replies_said_while_it_was_away_once(redis_url, redis):  # noqa: F811
    host, port_db = redis_url.removeprefix("redis://").split(":")
    port, db = port_db.split("/")
    agent = Agent(domain=Domain.empty(), tracker_store=InMemoryTrackerStore(Domain.empty()),
                  lock_store=AsyncRedisLockStore(host=host, port=int(port), db=int(db)))
    assistant = Turning(agent)
    channel = WebChatInput(settings(REDIS_URL=redis_url), session_persistence=True)
    async with served(channel, assistant, agent=agent) as url:
        before = ChatClient(url, ["websocket"])
        session_id = await before.connect()
        await before.sio.call("user_uttered", {"message": "宽带连不上", "session_id": session_id,
                                               "client_id": uuid.uuid4().hex}, timeout=10)
        seen = (await before.replies_until(lambda m: m.get("text") == FIRST, timeout=10))[-1]["timestamp"]
        await before.close()  # into a lift
        assistant.page_gone.set()
        await asyncio.wait_for(assistant.said_second.wait(), 10)

        back = ChatClient(url, ["websocket"])  # out of the lift, the turn still running
        await back.sio.connect(url, socketio_path="socket.io", transports=["websocket"])
        try:
            await back.sio.emit("session_request", {"session_id": session_id, "seen_at": seen})
            await asyncio.wait_for(back.confirmed.wait(), 10)
            assert back.session_id == session_id
            got = await back.replies_until(lambda m: m.get("text") == SECOND, timeout=10)
            await back.sio.call("user_uttered", {"message": "好的谢谢", "session_id": session_id,
                                                 "client_id": uuid.uuid4().hex}, timeout=10)
            got += await back.replies_until(lambda m: m.get("text") == THANKS, timeout=10)
        finally:
            await back.close()
    assert [m.get("text") for m in got if m.get("text")] == [SECOND, THANKS], "a reply lost or sent twice"


async def test_a_new_conversation_asked_for_while_the_page_resumes_its_old_one_is_the_one_it_gets(
        redis_url, redis):  # noqa: F811
    """A page resuming during a turn waits for it; 新对话 pressed meanwhile was confirmed, then the resume
    ended and put the page back into the conversation it had just wiped (at a shared PC, the last
    customer's, verified), and what it said next went there."""
    host, port_db = redis_url.removeprefix("redis://").split(":")
    port, db = port_db.split("/")
    agent = Agent(domain=Domain.empty(), tracker_store=InMemoryTrackerStore(Domain.empty()),
                  lock_store=AsyncRedisLockStore(host=host, port=int(port), db=int(db)))
    assistant = Assistant()
    channel = WebChatInput(settings(REDIS_URL=redis_url), session_persistence=True)
    async with served(channel, assistant, agent=agent) as url:
        before = ChatClient(url, ["websocket"])
        old = await before.connect()
        await before.close()
        told: asyncio.Queue = asyncio.Queue()
        page = socketio.AsyncClient(reconnection=False)
        page.on("session_confirm", lambda session_id: told.put_nowait(("confirm", session_id)))
        page.on("bot_uttered", lambda message: told.put_nowait(("said", message.get("text"))))
        turn_holds, turn_ends = asyncio.Event(), asyncio.Event()

        async def turn() -> None:  # the old conversation's turn, still running as the page comes back
            async with agent.lock_store.lock(old):
                turn_holds.set()
                await turn_ends.wait()

        running = asyncio.ensure_future(turn())
        await asyncio.wait_for(turn_holds.wait(), 10)
        await page.connect(url, socketio_path="socket.io", transports=["websocket"])
        try:
            await page.emit("session_request", {"session_id": old, "seen_at": 0})
            await page.emit("session_request", {"session_id": None})  # 新对话
            kind, fresh = await asyncio.wait_for(told.get(), 10)
            assert kind == "confirm" and fresh != old, "新对话 is confirmed while the old conversation's turn runs"
            turn_ends.set()
            await running
            await until(lambda: no_line(redis, old), what="the resume to have had the lock")
            # After whatever the resume sent, on the same way to the page.
            await channel.sio.emit("bot_uttered", {"text": "marker"}, room=page.get_sid(), namespace="/")
            after = []
            while (item := await asyncio.wait_for(told.get(), 10)) != ("said", "marker"):
                after.append(item)
            assert ("confirm", old) not in after, "the page was put back into the conversation it had wiped"
            ack = await page.call("user_uttered", {"message": "你好", "session_id": fresh,
                                                   "client_id": uuid.uuid4().hex}, timeout=10)
            assert ack == {"ok": True}
        finally:
            await page.disconnect()
    assert [m.sender_id for m in assistant.heard] == [fresh]


async def no_line(redis, conversation_id: str) -> bool:  # noqa: F811
    return not await redis.exists(f"kefu:lock:{conversation_id}:line")


class Storing(Assistant):
    """Rasa's turn as it stores the customer's message: under its Rasa message id."""

    def __init__(self, agent: Agent) -> None:
        super().__init__()
        self.agent = agent

    async def __call__(self, message) -> None:
        self.heard.append(message)
        async with self.agent.lock_store.lock(message.sender_id):
            tracker = await self.agent.tracker_store.get_or_create_tracker(message.sender_id)
            tracker.update(UserUttered(message.text, message_id=message.message_id, timestamp=time.time()))
            said = BotUttered(THANKS, timestamp=time.time())
            tracker.update(said)
            await message.output_channel.send_response(message.sender_id, said.message())
            await self.agent.tracker_store.save(tracker)


async def test_a_message_sent_without_a_client_id_has_the_same_id_live_and_replayed(redis_url, redis):  # noqa: F811
    """A third-party Rasa widget sends no client id. Its message reached Kefu's page in another tab live
    with none, and was replayed to that page resuming (closed before the answer) with the server's own:
    the page, which shows each message once by its id, showed it twice. Both carry the id the server
    gave it."""
    host, port_db = redis_url.removeprefix("redis://").split(":")
    port, db = port_db.split("/")
    agent = Agent(domain=Domain.empty(), tracker_store=InMemoryTrackerStore(Domain.empty()),
                  lock_store=AsyncRedisLockStore(host=host, port=int(port), db=int(db)))
    channel = WebChatInput(settings(REDIS_URL=redis_url), session_persistence=True)
    async with served(channel, Storing(agent), agent=agent) as url:
        kefu = ChatClient(url, ["websocket"])
        session_id = await kefu.connect()
        seen = time.time()  # the page's latest reply is from before the widget's message
        widget = ChatClient(url, ["websocket"])
        await widget.connect(session_id)
        try:
            assert await widget.sio.call("user_uttered", {"message": "宽带连不上", "session_id": session_id},
                                         timeout=10) == {"ok": True}
            await kefu.replies_until(lambda m: m.get("text") == THANKS, timeout=10)
            await kefu.close()  # reloaded: it resumes from the reply before the widget's message
            back = ChatClient(url, ["websocket"])
            await back.sio.connect(url, socketio_path="socket.io", transports=["websocket"])
            await back.sio.emit("session_request", {"session_id": session_id, "seen_at": seen})
            await back.replies_until(lambda m: m.get("text") == THANKS, timeout=10)
            await back.close()
        finally:
            await widget.close()
    assert [t["message"] for t in kefu.typed] == [t["message"] for t in back.typed] == ["宽带连不上"]
    assert kefu.typed[0]["client_id"] is not None, "the page could not tell it from the same words sent again"
    assert back.typed[0]["client_id"] == kefu.typed[0]["client_id"], "the page shows it twice"
