"""The web-chat channel over real Socket.IO (python-socketio client) against the running server."""
from __future__ import annotations

import asyncio
import re
import urllib.request

import pytest
import socketio

from bot.channels.webchat import WebChatOutput, quick_reply

pytestmark = pytest.mark.slow


class ChatClient:
    """One browser tab's worth of Socket.IO, speaking the Rasa web-chat protocol."""

    def __init__(self, url: str, transports: list[str]) -> None:
        self.url = url
        self.transports = transports
        self.sio = socketio.AsyncClient(reconnection=False)
        self.session_id: str | None = None
        self.confirmed = asyncio.Event()
        self.received: asyncio.Queue = asyncio.Queue()
        self.typed: list[dict] = []  # the customer's messages sent from another tab of the conversation
        self.sio.on("session_confirm", self._on_confirm)
        self.sio.on("bot_uttered", self._on_bot)
        self.sio.on("user_uttered", self.typed.append)

    async def _on_confirm(self, session_id) -> None:
        self.session_id = session_id
        self.confirmed.set()

    async def _on_bot(self, message) -> None:
        await self.received.put(message)

    async def connect(self, session_id: str | None = None) -> str:
        await self.sio.connect(self.url, socketio_path="socket.io", transports=self.transports)
        await self.sio.emit("session_request", {"session_id": session_id})
        await asyncio.wait_for(self.confirmed.wait(), 10)
        return self.session_id

    async def say(self, text: str) -> None:
        await self.sio.emit("user_uttered", {"message": text, "session_id": self.session_id})

    async def replies_until(self, predicate, timeout: float = 30) -> list[dict]:
        """Collect bot messages until one satisfies ``predicate``."""
        messages: list[dict] = []
        while True:
            message = await asyncio.wait_for(self.received.get(), timeout)
            messages.append(message)
            if predicate(message):
                return messages

    async def close(self) -> None:
        await self.sio.disconnect()


def queued(message: dict) -> bool:
    """The customer is in the queue (told their place, or that nobody is there yet)."""
    return (message.get("custom") or {}).get("kind") == "queue_status"


def asks_if_solved(message: dict) -> bool:
    return any(r.get("payload") == "/deny" for r in message.get("quick_replies", []))


@pytest.fixture
async def chat(running_kefu, request):
    clients: list[ChatClient] = []

    def make(transports=("websocket",)) -> ChatClient:
        client = ChatClient(running_kefu.settings.rasa_url, list(transports))
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


@pytest.mark.parametrize("transports", [["websocket"], ["polling"]], ids=["websocket", "polling"])
async def test_fault_gets_inline_video_then_next_step_after_reload(chat, running_kefu, transports):
    first = chat(transports)
    session_id = await first.connect()
    assert re.fullmatch(r"[0-9a-f]{32}", session_id)
    await first.say("宽带连不上了")
    messages = await first.replies_until(asks_if_solved)

    video = next(m["attachment"] for m in messages if m.get("attachment", {}).get("type") == "video")
    assert video["payload"]["src"].endswith("/media/selfhelp/bb_restart.mp4")
    assert video["payload"]["poster"].endswith("/media/selfhelp/bb_restart.jpg")
    links = [r for m in messages for r in m.get("quick_replies", []) if r.get("type") == "web_url"]
    assert links and links[0]["url"] == f"{running_kefu.settings.public_url}/help/bb_restart"
    with urllib.request.urlopen(links[0]["url"], timeout=10) as page:  # Kefu's own page for the entry
        assert page.status == 200 and "bb_restart.mp4" in page.read().decode()
    assert [r["title"] for r in messages[-1]["quick_replies"]] == ["解决了", "没解决", "转人工"]
    with urllib.request.urlopen(video["payload"]["src"], timeout=10) as served:
        assert served.status == 200 and served.headers["Content-Type"] == "video/mp4"
        assert served.read(12)[4:8] == b"ftyp"
    await first.close()

    # A reload: a new connection resumes the same session id and the conversation goes on.
    second = chat(transports)
    assert await second.connect(session_id) == session_id
    await second.say("/deny")  # the "没解决" button's payload
    # bb_restart is the last broadband self-help entry: the next step is a repair ticket, which
    # says so first and then asks who the customer is (acknowledge first, issue 16).
    follow = await second.replies_until(lambda m: "手机号" in (m.get("text") or ""))
    texts = [m["text"] for m in follow if m.get("text")]
    assert "报修" in texts[0] and "手机号" in texts[-1]


async def test_session_ids_are_issued_by_the_server(chat):
    client = chat()
    # A phone number as a session id would let a stranger be "identified" as that customer.
    issued = await client.connect("13800000002")
    assert issued != "13800000002" and re.fullmatch(r"[0-9a-f]{32}", issued)
    # Nor any id of the right shape that this server did not issue (found by a probe).
    made_up = "0123456789abcdef0123456789abcdef"
    assert await chat().connect(made_up) not in (made_up, issued)
    # The reload test above resumes an issued id.


async def test_message_without_session_is_ignored_and_long_message_gets_notice(chat):
    client = chat()
    await client.connect()
    await client.sio.emit("user_uttered", {"message": "你好", "session_id": "f" * 32})
    await client.sio.emit("user_uttered", {"message": "网" * 2001, "session_id": client.session_id})
    notice = await client.replies_until(lambda m: "custom" in m, timeout=10)
    assert notice == [{"custom": {"kind": "notice", "reason": "too_long"}}], "the foreign-session message got no reply"


class RecordingSio:
    def __init__(self) -> None:
        self.emitted: list[tuple] = []

    async def emit(self, event, data=None, room=None, **kwargs) -> None:
        self.emitted.append((event, data, room))


async def test_output_sends_custom_kinds_and_link_buttons_as_data():
    sio = RecordingSio()
    output = WebChatOutput(sio, "bot_uttered")
    queue = {"kind": "queue_status", "position": 3, "wait_minutes": 6}
    await output.send_response("s1", {"custom": dict(queue)})
    await output.send_response("s1", {"custom": {"kind": "agent_message", "agent_name": "王芳", "text": "您好"}})
    await output.send_response("s1", {"text": "看这里", "buttons": [{"title": "帮助", "url": "https://h/x", "type": "web_url"},
                                                                {"title": "没解决", "payload": "/deny"}]})
    assert sio.emitted[0] == ("bot_uttered", {"custom": queue}, "s1")
    assert sio.emitted[1][1]["custom"]["kind"] == "agent_message"
    assert sio.emitted[2][1]["quick_replies"] == [
        {"type": "web_url", "title": "帮助", "url": "https://h/x"},
        {"content_type": "text", "title": "没解决", "payload": "/deny"},
    ]
    assert quick_reply({"title": "t", "payload": "/p"})["payload"] == "/p"
