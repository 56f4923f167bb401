"""A web chat message acknowledged by a worker that then died is answered by another worker, once.

Served in process: two web chat channels on one real Redis stand for two worker processes, each on a
Sanic server of its own, a stand-in for the assistant behind each (the shared stack's workers cannot
be killed between an ack and a turn on demand), and the page's real Socket.IO client.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid

import pytest
from rasa.core.channels.channel import UserMessage
from sanic import Sanic

from bot import settings as settings_module
from bot.channels.webchat import WebChatInput
from bot.channels.webchat_inflight import LEASE_S, SWEEP_EVERY_S, InFlight
from bot.embedded_redis import free_port
from tests.channels.test_channel_config import settings
from tests.channels.test_webchat_socketio import ChatClient
from tests.handoff.conftest import redis, redis_url  # noqa: F401  the same real Redis fixtures

ENTRIES, FAILED = "kefu:webchat:inflight", "kefu:webchat:inflight:failed:"
FAILED_OF = "kefu:webchat:inflight:failed_of:"


class Assistant:
    """Stand-in for Rasa: records each message and answers 您好."""

    def __init__(self) -> None:
        self.heard: list[UserMessage] = []
        self.delay = 0.0

    async def __call__(self, message: UserMessage) -> None:
        self.heard.append(message)
        await asyncio.sleep(self.delay)
        await message.output_channel.send_response(message.sender_id, {"text": "您好"})

    def texts(self) -> list[str]:
        return [m.text for m in self.heard]


class Stuck(Assistant):
    """A worker that acknowledged a message and died: its turn never ends."""

    async def __call__(self, message: UserMessage) -> None:
        self.heard.append(message)
        await asyncio.Event().wait()


class Broken(Assistant):
    """A message whose turn fails on every worker (a bug, or a turn that kills the process)."""

    async def __call__(self, message: UserMessage) -> None:
        self.heard.append(message)
        raise RuntimeError("the turn failed")


def dies_after_the_ack(channel: WebChatInput) -> None:
    """The worker's process is gone once its turn started (``Stuck``): nothing renews its leases."""
    channel.inflight.renew_held = lambda _client: None


def counting_looks(channel: WebChatInput) -> list[float]:
    """When each of the channel's sweeps looked for lapsed leases (appended as they happen)."""
    looks: list[float] = []
    take_over = channel.inflight.take_over

    async def looking():
        looks.append(time.monotonic())
        return await take_over()

    channel.inflight.take_over = looking
    return looks


@pytest.fixture(autouse=True)
def secrets_in_environment(tmp_path, monkeypatch):
    """Session ids are signed with the channel secret: every worker (here, every channel) has the same."""
    monkeypatch.setenv("KEFU_DATA_DIR", str(tmp_path))
    for name in ("RASA_TOKEN", "ACTION_SECRET", "CHANNEL_SECRET", "JWT_SECRET", "IVR_TRUNK_TOKEN"):
        monkeypatch.setenv(f"KEFU_{name}", f"test-{name.lower()}")
    settings_module.get_settings.cache_clear()
    yield
    settings_module.get_settings.cache_clear()


def worker(redis_url: str, *, lease_s: float = 1.0, sweep_every_s: float = 0.2,  # noqa: F811
           max_attempts: int = 3) -> WebChatInput:
    channel = WebChatInput(settings(REDIS_URL=redis_url), session_persistence=True)
    channel.inflight = InFlight(channel.guard, lease_s=lease_s, sweep_every_s=sweep_every_s,
                                max_attempts=max_attempts)
    return channel


@contextlib.asynccontextmanager
async def served(channel: WebChatInput, assistant: Assistant, agent=None, **config):
    """The channel on a Sanic server of its own; ``agent``: the Rasa agent whose stores it reads, if any;
    ``config``: Sanic's settings (``PROXIES_COUNT=1``, as ``SANIC_PROXIES_COUNT`` sets it)."""
    app = Sanic(f"webchat_inflight_{free_port()}")
    app.config.update(config)
    if agent is not None:
        app.ctx.agent = agent
    app.blueprint(channel.blueprint(assistant), url_prefix="/webhooks/webchat")
    port = free_port()
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False)
    await server.startup()
    await server.after_start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await server.before_stop()
        for task in list(channel._processing):  # a "dead" worker's turn, still pending in this test
            task.cancel()
        server.close()
        await server.wait_closed()


@contextlib.asynccontextmanager
async def page(url: str, session_id: str | None = None):
    client = ChatClient(url, ["websocket"])
    await client.connect(session_id)
    try:
        yield client
    finally:
        await client.close()


def message(session_id: str, text: str) -> dict:
    return {"message": text, "session_id": session_id, "client_id": uuid.uuid4().hex}


async def until(check, timeout: float = 15, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def nothing_in_flight(client) -> bool:
    return not await client.hlen(ENTRIES) and not await client.keys("kefu:webchat:inflight:*")


async def nothing_in_flight_but_failed(client) -> bool:
    """Only set-aside entries left, and their sessions' sets of entry ids (for a resumed page)."""
    return not await client.hlen(ENTRIES) and all(k.startswith((FAILED.encode(), FAILED_OF.encode()))
                                                  for k in await client.keys("kefu:webchat:inflight:*"))


async def test_a_message_acknowledged_by_a_worker_that_died_is_answered_by_another_once(
        redis_url, redis):  # noqa: F811
    """The page showed the message sent, its resends were "duplicate", and no reply ever came."""
    dying, healthy = Stuck(), Assistant()
    first = worker(redis_url, sweep_every_s=3600)  # dead: it takes nothing over either
    dies_after_the_ack(first)
    second = worker(redis_url)
    async with served(first, dying) as first_url, served(second, healthy) as second_url:
        async with page(first_url) as before:
            said = message(before.session_id, "宽带断了")
            assert await before.sio.call("user_uttered", said, timeout=10) == {"ok": True}
            session_id = before.session_id
        assert dying.texts() == ["宽带断了"]
        # The page's connection went with its worker: it resumes the session on another one.
        async with page(second_url, session_id) as after:
            replies = await after.replies_until(lambda m: m.get("text") == "您好", timeout=15)
            assert await after.sio.call("user_uttered", said, timeout=10) == {"ok": True, "duplicate": True}
            await until(lambda: nothing_in_flight(redis), what="the taken-over turn to be settled")
    assert healthy.texts() == ["宽带断了"]  # once: settled, nobody can take it over again
    assert healthy.heard[0].sender_id == session_id and healthy.heard[0].metadata == {"channel": "webchat"}
    assert [r.get("text") for r in replies] == ["您好"]


async def test_a_dead_workers_message_is_answered_in_seconds_not_after_a_half_minute_lease(redis_url,
                                                                                          redis):  # noqa: F811
    """Found in review: the customer waited 35 s for an answer — the dead worker's 30 s lease (renewed on
    the event loop, so it had to outlast a stalled one) and a 5 s sweep. With the shipped settings the
    answer now comes within the bound below, shorter than the old lease alone."""
    first = worker(redis_url, lease_s=LEASE_S, sweep_every_s=3600)
    dies_after_the_ack(first)
    second = worker(redis_url, lease_s=LEASE_S, sweep_every_s=SWEEP_EVERY_S)
    async with served(first, Stuck()) as first_url, served(second, Assistant()) as second_url:
        async with page(first_url) as before:
            said = message(before.session_id, "网速很慢")
            assert await before.sio.call("user_uttered", said, timeout=10) == {"ok": True}
            acked = time.monotonic()
        async with page(second_url, before.session_id) as after:
            await after.replies_until(lambda m: m.get("text") == "您好", timeout=20)
            took = time.monotonic() - acked
    assert took < 20, f"answered {took:.1f} s after the ack"


async def test_a_live_workers_lease_outlives_its_event_loop_stalled_longer_than_the_lease(redis_url,
                                                                                         redis):  # noqa: F811
    """Found in review: the lease was renewed on the event loop, so a loop stalled for two thirds of it (a
    model predicting on the loop) let it lapse, and another worker ran the live worker's turn again."""
    import redis as sync_redis

    lease_s, leased = 2.0, []  # its renewals every 0.4 s: a thread held up under load has room
    first, second = worker(redis_url, lease_s=lease_s), worker(redis_url, lease_s=lease_s)
    looks = counting_looks(second)

    class Stalling(Assistant):
        async def __call__(self, message: UserMessage) -> None:
            self.heard.append(message)
            time.sleep(3 * lease_s)  # nothing on the loop runs meanwhile: neither worker's sweep either
            with sync_redis.Redis.from_url(redis_url) as client:
                leased.append(bool(client.exists(f"kefu:webchat:inflight:lease:{message.message_id}")))
            stalled = len(looks)

            async def swept() -> bool:  # the sweeps after the stall, past the second look confirming a lapse
                return len(looks) >= stalled + 6

            await until(swept, what="the other worker's sweeps")
            await message.output_channel.send_response(message.sender_id, {"text": "您好"})

    stalling, other = Stalling(), Assistant()
    async with served(first, stalling) as url, served(second, other), page(url) as chat:
        await chat.sio.call("user_uttered", message(chat.session_id, "查一下套餐"), timeout=10)
        await chat.replies_until(lambda m: m.get("text") == "您好")
        assert leased == [True], "the lease lapsed while the event loop stalled"
        assert stalling.texts() == ["查一下套餐"] and other.texts() == [], "the live worker's turn ran again"
        await until(lambda: nothing_in_flight(redis), what="the turn to be settled")


async def test_a_message_is_recorded_before_its_ack_and_a_handled_one_leaves_nothing(redis_url,
                                                                                    redis):  # noqa: F811
    gate = asyncio.Event()

    class Waiting(Assistant):
        async def __call__(self, message: UserMessage) -> None:
            await gate.wait()
            await super().__call__(message)

    assistant = Waiting()
    channel = worker(redis_url)
    async with served(channel, assistant) as url, page(url) as chat:
        said = message(chat.session_id, "电视没信号")
        assert await chat.sio.call("user_uttered", said, timeout=10) == {"ok": True}
        entry = json.loads(await redis.hget(ENTRIES, f"{chat.session_id}:{said['client_id']}"))
        assert (entry["session_id"], entry["client_id"], entry["text"], entry["metadata"]) == (
            chat.session_id, said["client_id"], "电视没信号", {"channel": "webchat"})
        await asyncio.sleep(channel.inflight.lease_s * 2)  # a turn longer than the lease: still this worker's
        gate.set()
        await chat.replies_until(lambda m: m.get("text") == "您好")
        await chat.sio.emit("user_uttered", {"message": "谢谢", "session_id": chat.session_id})  # an older widget
        await chat.replies_until(lambda m: m.get("text") == "您好")
        await until(lambda: nothing_in_flight(redis), what="the turns to be settled")
    assert assistant.texts() == ["电视没信号", "谢谢"]


async def test_a_code_or_password_is_taken_once_but_never_written_to_redis(redis_url, redis):  # noqa: F811
    """Found by CI's desk-proof test: the in-flight entry wrote the customer's service password to Redis
    in clear, which the tracker store never does (bot/security/secret_answers.py)."""
    from tests.channels.test_desk_proof import RedisCommands

    assistant = Assistant()
    channel = worker(redis_url)
    with RedisCommands(redis_url) as commands:
        async with served(channel, assistant) as url, page(url) as chat:
            answers = [message(chat.session_id, "135790"), message(chat.session_id, "我的密码是 246801")]
            for said in answers:
                assert await chat.sio.call("user_uttered", said, timeout=10) == {"ok": True}
                assert await chat.sio.call("user_uttered", said, timeout=10) == {"ok": True, "duplicate": True}
            await until(lambda: nothing_in_flight(redis), what="the turns to be settled")
        seen = commands.seen()
    assert any(chat.session_id in command for command in seen), "the messages' commands were recorded"
    assert [command for command in seen if "135790" in command or "246801" in command] == []
    assert assistant.texts() == ["135790", "我的密码是 246801"]  # each turn ran, once


async def test_a_slow_turn_on_a_live_worker_is_not_taken_over(redis_url, redis):  # noqa: F811
    slow, other = Assistant(), Assistant()
    slow.delay = 2.5
    first, second = worker(redis_url), worker(redis_url)
    async with served(first, slow) as first_url, served(second, other), page(first_url) as chat:
        await chat.sio.call("user_uttered", message(chat.session_id, "查话费"), timeout=10)
        await chat.replies_until(lambda m: m.get("text") == "您好")
        await until(lambda: nothing_in_flight(redis), what="the turn to be settled")
    assert slow.texts() == ["查话费"] and other.texts() == []


async def test_a_message_failing_on_every_attempt_is_set_aside_after_the_bound(redis_url, redis):  # noqa: F811
    broken = Broken()
    channel = worker(redis_url, lease_s=0.5, sweep_every_s=0.1, max_attempts=3)
    async with served(channel, broken) as url, page(url) as chat:
        said = message(chat.session_id, "我要投诉")
        assert await chat.sio.call("user_uttered", said, timeout=10) == {"ok": True}

        async def set_aside() -> bool:
            return bool(await redis.keys(f"{FAILED}*"))

        await until(set_aside, what="the message to be set aside")
        assert await nothing_in_flight_but_failed(redis)
    assert broken.texts() == ["我要投诉"] * 3
    kept = json.loads(await redis.get(f"{FAILED}{chat.session_id}:{said['client_id']}"))
    assert 0 < await redis.ttl(f"{FAILED}{chat.session_id}:{said['client_id']}") <= 30 * 24 * 3600
    assert (kept["session_id"], kept["client_id"], kept["text"], kept["attempts"]) == (
        chat.session_id, said["client_id"], "我要投诉", 3)


def not_handled(message: dict) -> bool:
    return (message.get("custom") or {}).get("reason") == "not_handled"


async def test_the_customer_is_told_on_their_page_when_their_message_is_set_aside(redis_url, redis):  # noqa: F811
    """The operator's note: the customer was not told (the log only) — their page showed the message sent
    and nothing ever came. The worker setting it aside is not the one holding the page: the notice
    goes through the conversation's room, as replies do."""
    holding_the_page, sweeping = worker(redis_url, lease_s=0.5, sweep_every_s=3600), \
        worker(redis_url, lease_s=0.5, sweep_every_s=0.1)
    first_run, other_runs = Broken(), Broken()
    async with served(holding_the_page, first_run) as url, served(sweeping, other_runs), page(url) as chat:
        said = message(chat.session_id, "我的宽带账号欠费了吗")
        assert await chat.sio.call("user_uttered", said, timeout=10) == {"ok": True}
        told = await chat.replies_until(not_handled, timeout=20)
    assert first_run.texts() + other_runs.texts() == ["我的宽带账号欠费了吗"] * 3
    assert await redis.exists(f"{FAILED}{chat.session_id}:{said['client_id']}")
    assert told[-1]["custom"] == {"kind": "notice", "reason": "not_handled", "message": "我的宽带账号欠费了吗",
                                  "client_id": said["client_id"]}
    assert told[-1]["timestamp"] > 0  # the page's seen_at moves past it: a resume does not repeat it
    # The page shows the editors' words for it (content/ui/webchat.zh.json), quoting the message.
    strings = json.loads((holding_the_page.settings.content_dir / "ui" / "webchat.zh.json").read_text(encoding="utf-8"))
    assert "{message}" in strings["notice_not_handled"] and "转人工" in strings["notice_not_handled"]


@contextlib.asynccontextmanager
async def resumed(url: str, session_id: str, seen_at: float):
    """The page reopened on its session, saying the latest message it had received (as chat.js does)."""
    client = ChatClient(url, ["websocket"])
    await client.sio.connect(url, socketio_path="socket.io", transports=["websocket"])
    await client.sio.emit("session_request", {"session_id": session_id, "seen_at": seen_at})
    await asyncio.wait_for(client.confirmed.wait(), 10)
    try:
        yield client
    finally:
        await client.close()


async def test_a_page_closed_when_its_message_was_set_aside_is_told_when_it_comes_back(redis_url,
                                                                                      redis):  # noqa: F811
    broken = Broken()
    channel = worker(redis_url, lease_s=0.5, sweep_every_s=0.1)
    async with served(channel, broken) as url:
        async with page(url) as before:
            said = message(before.session_id, "帮我查一下上个月的话费")
            assert await before.sio.call("user_uttered", said, timeout=10) == {"ok": True}
            session_id, seen_at = before.session_id, time.time()
        failed = f"{FAILED}{session_id}:{said['client_id']}"

        async def set_aside() -> bool:
            return bool(await redis.exists(failed))

        await until(set_aside, what="the message to be set aside")
        async with resumed(url, session_id, seen_at) as after:
            told = await after.replies_until(not_handled, timeout=10)
    assert told[-1]["custom"]["message"] == "帮我查一下上个月的话费" and told[-1]["timestamp"] > seen_at
    # A page that has seen the notice (its seen_at is the notice's time) is not told again.
    assert [p.text for p, _ in await channel.inflight.set_aside_since(session_id, seen_at)] == ["帮我查一下上个月的话费"]
    assert await channel.inflight.set_aside_since(session_id, told[-1]["timestamp"]) == []


class StoredThenDied(Assistant):
    """A worker that ran the turn as Rasa does (stored, with the message's id) and died before it
    could settle the message's in-flight entry."""

    def __init__(self, agent) -> None:
        super().__init__()
        self.agent = agent

    async def __call__(self, message: UserMessage) -> None:
        from rasa.shared.core.events import BotUttered, UserUttered

        self.heard.append(message)
        tracker = await self.agent.tracker_store.get_or_create_tracker(message.sender_id)
        tracker.update(UserUttered(message.text, message_id=message.message_id, input_channel="webchat"))
        tracker.update(BotUttered("已为您登记报修。"))
        await message.output_channel.send_response(message.sender_id, {"text": "已为您登记报修。"})
        await self.agent.tracker_store.save(tracker)
        await asyncio.Event().wait()


async def test_a_message_whose_turn_was_stored_before_its_worker_died_is_not_run_again(
        redis_url, redis):  # noqa: F811
    """Found in review: the worker taking the message over ran its turn a second time (the answer
    twice, a second ticket), although Rasa had stored it."""
    from rasa.core.agent import Agent
    from rasa.core.tracker_store import InMemoryTrackerStore
    from rasa.shared.core.domain import Domain

    agent = Agent(domain=Domain.empty(), tracker_store=InMemoryTrackerStore(Domain.empty()))  # shared, as Redis is
    dying, healthy = StoredThenDied(agent), Assistant()
    first = worker(redis_url, sweep_every_s=3600)
    dies_after_the_ack(first)
    second = worker(redis_url)
    async with served(first, dying, agent) as first_url, served(second, healthy, agent):
        async with page(first_url) as before:
            said = message(before.session_id, "宽带断了，报修")
            assert await before.sio.call("user_uttered", said, timeout=10) == {"ok": True}
            await before.replies_until(lambda m: m.get("text") == "已为您登记报修。", timeout=10)
        await until(lambda: nothing_in_flight(redis), what="the entry to be taken over and settled")
    assert healthy.texts() == [], "the stored turn ran again"
