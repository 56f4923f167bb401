"""What arrives on the web chat's Redis channel for rooms across workers (``RoomsAcrossWorkers``).

Every worker reads that channel; anyone able to publish on the Redis (a neighbour service on a shared
Redis, one without a password in a flat network) can put a message there. Served in process as
``test_webchat_inflight``: the real channel on a Sanic server of its own, a real Redis, the page's
real Socket.IO client. A worker delivers to its own pages without Redis: a message published on the
channel after the others (as another worker would, :func:`heard_after_marker`) reaching the page means the
listener read everything published before it.
"""
from __future__ import annotations

import asyncio
import json
import logging
import multiprocessing
import os
import pickle

import redis.asyncio as aioredis

from bot.channels.webchat import ROOMS_CHANNEL_BASE
from bot.redis_channels import deployment_channel
from tests.channels.test_webchat_inflight import (  # noqa: F401  the secrets fixture
    Assistant, message, page, secrets_in_environment, served, worker,
)
from tests.handoff.conftest import neighbour_url, redis, redis_url  # noqa: F401  the same real Redis fixtures


def channel_of(redis) -> str:  # noqa: F811
    """The rooms channel of the deployment whose Redis database ``redis`` is on."""
    return deployment_channel(ROOMS_CHANNEL_BASE, redis)


class MakesADirectory:
    """A pickle that, once unpickled, has run ``os.mkdir`` (any code could be there instead)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return os.mkdir, (self.path,)


async def test_a_pickle_published_on_the_rooms_channel_runs_nothing_and_the_chat_goes_on(
        redis_url, redis, tmp_path, caplog):  # noqa: F811
    ran = tmp_path / "attacker-was-here"
    channel = worker(redis_url)
    async with served(channel, Assistant()) as url, page(url) as chat:
        with caplog.at_level(logging.WARNING, logger="bot.channels.webchat"):
            await redis.publish(channel_of(redis), pickle.dumps(MakesADirectory(str(ran))))
            await redis.publish(channel_of(redis), b"not json at all \xff")
            await redis.publish(channel_of(redis), json.dumps({"method": "disconnect", "sid": ["a", "list"]}))
            said = message(chat.session_id, "宽带断了")
            assert await chat.sio.call("user_uttered", said, timeout=10) == {"ok": True}
            replies = await chat.replies_until(lambda m: m.get("text") == "您好", timeout=15)
            assert await heard_after_marker(redis, chat, chat.session_id) == []
    assert not ran.exists(), "a message on the rooms channel ran code in the worker"
    assert [r.get("text") for r in replies] == ["您好"]
    unreadable = [r for r in caplog.records if r.getMessage().startswith("webchat.rooms.unreadable")]
    assert len(unreadable) == 1, "the operator is told, once, not once per message"


MARKER = "marker-from-another-worker"


async def heard_after_marker(redis, chat, room: str, *more) -> list:  # noqa: F811
    """What the page ``chat`` (and each of ``more``, in the same room) is sent until a message published on
    the rooms channel now, as another worker would, to ``room``: it arrives after everything published
    before it (its worker's own emits among them), so a reply that was to come a second time has come by
    then. One list for one page, a list of them for several."""
    await redis.publish(channel_of(redis), json.dumps({
        "method": "emit", "event": "bot_uttered", "data": {"text": MARKER}, "namespace": "/", "room": room,
        "skip_sid": None, "callback": None, "host_id": "another-worker"}))
    heard = [[m.get("text") for m in (await each.replies_until(lambda m: m.get("text") == MARKER, timeout=10))[:-1]]
             for each in (chat, *more)]
    return heard if more else heard[0]


async def test_a_reply_reaches_the_page_once(redis_url, redis):  # noqa: F811
    """The worker delivers to its own pages at once and publishes for the others: not again from Redis."""
    async with served(worker(redis_url), Assistant()) as url, page(url) as chat:
        assert await chat.sio.call("user_uttered", message(chat.session_id, "宽带断了"), timeout=10) == {"ok": True}
        await chat.replies_until(lambda m: m.get("text") == "您好", timeout=15)
        assert await heard_after_marker(redis, chat, chat.session_id) == [], "the reply came twice"


async def test_a_conversation_open_on_two_workers_gets_each_reply_once_on_each_page(redis_url, redis):  # noqa: F811
    """A conversation open in two tabs (a duplicated tab), each on another worker: whichever worker runs the
    turn, both pages show each reply once."""
    async with served(worker(redis_url), Assistant()) as first_url, \
            served(worker(redis_url), Assistant()) as second_url, page(first_url) as here:
        async with page(second_url, here.session_id) as there:
            for speaking in (here, there):
                said = message(here.session_id, "宽带断了")
                assert await speaking.sio.call("user_uttered", said, timeout=10) == {"ok": True}
                for chat in (here, there):
                    replies = await chat.replies_until(lambda m: m.get("text") == "您好", timeout=15)
                    assert [r.get("text") for r in replies] == ["您好"]
                assert await heard_after_marker(redis, here, here.session_id, there) == [[], []], "a reply came twice"


async def test_what_the_customer_types_in_one_tab_shows_once_in_the_other_on_another_worker(redis_url,
                                                                                          redis):  # noqa: F811
    """Found by the maintainers: two tabs of one conversation each showed the answers to what was typed in
    the other, not the question. It reaches the other tab before its answer, not the tab that sent it, nor
    another conversation; a code typed in clear reaches no other tab (nor Redis) as it was typed."""
    async with served(worker(redis_url), Assistant()) as first_url, \
            served(worker(redis_url), Assistant()) as second_url, page(first_url) as here:
        async with page(second_url, here.session_id) as there, page(second_url) as stranger:
            said = message(here.session_id, "宽带断了，验证码是861005")
            assert await here.sio.call("user_uttered", said, timeout=10) == {"ok": True}
            for chat in (here, there):
                await chat.replies_until(lambda m: m.get("text") == "您好", timeout=15)
            assert there.typed == [{"message": "宽带断了，验证码是******", "client_id": said["client_id"]}], \
                "shown in the other tab before its answer"
            assert await heard_after_marker(redis, here, here.session_id) == []
            assert await heard_after_marker(redis, stranger, stranger.session_id) == []
            assert here.typed == [] and stranger.typed == [], "not back to the tab that sent it, nor elsewhere"


async def test_two_deployments_on_one_redis_server_never_show_each_others_broadcasts(
        redis_url, redis, neighbour_url):  # noqa: F811
    """Two Kefu deployments (production and staging) on one Redis server, each on its own database: Redis's
    Pub/Sub channels are the server's, not a database's, and a page of each showed the other's web-chat
    broadcasts. Each deployment has two workers; a broadcast from one reaches its deployment's page on the
    other (through Redis), and then a marker on the other deployment's channel shows that deployment's page
    heard nothing of it."""
    ours_sending, theirs_sending = worker(redis_url), worker(neighbour_url)
    async with aioredis.Redis.from_url(neighbour_url) as neighbour, \
            served(ours_sending, Assistant()), served(worker(redis_url), Assistant()) as ours_url, \
            served(theirs_sending, Assistant()), served(worker(neighbour_url), Assistant()) as theirs_url, \
            page(ours_url) as ours, page(theirs_url) as theirs:
        # Each page's worker listens (a marker came through its deployment's channel).
        assert await heard_after_marker(redis, ours, ours.session_id) == []
        assert await heard_after_marker(neighbour, theirs, theirs.session_id) == []
        for sending, receiving, other, other_redis, text in (
                (ours_sending, ours, theirs, neighbour, "系统升级通知：生产环境"),
                (theirs_sending, theirs, ours, redis, "系统升级通知：测试环境")):
            await sending.sio.emit("bot_uttered", {"text": text}, namespace="/")  # to every page of its deployment
            heard = await receiving.replies_until(lambda m: m.get("text") == text, timeout=10)
            assert [m.get("text") for m in heard] == [text]
            assert await heard_after_marker(other_redis, other, other.session_id) == [], \
                "a page showed another deployment's broadcast"


def _send_host_id(channel, answer) -> None:
    """In a worker forked from the process that made ``channel``: the id its emits are published under."""
    answer.send(channel.sio.manager.host_id)


async def test_what_one_forked_worker_publishes_reaches_a_page_on_another(redis_url, redis):  # noqa: F811
    """Found on a live stack of two workers: an agent's messages, and "an agent joined", reached the customer's
    page only when the desk's request landed on the page's own worker (5 of 12 lost). The workers are forked
    from the process that made the channel (bot/sanic_workers.py), and each skipped what the others published
    as its own."""
    channel = worker(redis_url)  # made once, then forked, as `kefu run` does
    async with served(channel, Assistant()) as url, page(url) as chat:
        receiving, sending = multiprocessing.get_context("fork").Pipe(duplex=False)
        other = multiprocessing.get_context("fork").Process(target=_send_host_id, args=(channel, sending))
        other.start()
        other_id = receiving.recv()
        other.join(10)
        await redis.publish(channel_of(redis), json.dumps({
            "method": "emit", "event": "bot_uttered", "data": {"text": "人工客服：您好"}, "namespace": "/",
            "room": chat.session_id, "skip_sid": None, "callback": None, "host_id": other_id}))
        assert await heard_after_marker(redis, chat, chat.session_id) == ["人工客服：您好"], \
            "a message another worker published was dropped"


async def test_a_message_refused_is_explained_in_the_tab_that_sent_it_only(redis_url, redis):  # noqa: F811
    """Found by the maintainers: a message refused as too long was not shown in the conversation's other
    tabs, but its refusal was — 消息太长了 there, under nothing the customer wrote in that tab. The
    refused message is no part of the conversation (no answer, not stored, not replayed to a tab that
    resumes): the other tabs show nothing of it, and the tab that sent it is told why, as its ack says.
    So too for one refused for the rate."""
    sending = worker(redis_url)
    sending.messages_per_minute = 1
    async with served(sending, Assistant()) as first_url, \
            served(worker(redis_url), Assistant()) as second_url, page(first_url) as here:
        async with page(second_url, here.session_id) as there, page(first_url, here.session_id) as beside:
            said = message(here.session_id, "网" * 2001)
            assert await here.sio.call("user_uttered", said, timeout=10) == {"ok": False, "reason": "too_long"}
            told = await here.replies_until(lambda m: "custom" in m, timeout=10)
            assert told == [{"custom": {"kind": "notice", "reason": "too_long"}}]
            assert await heard_after_marker(redis, there, here.session_id, beside) == [[], []], \
                "the refusal of a message they never showed reached the other tabs"
            assert there.typed == [] and beside.typed == []
            assert await here.sio.call("user_uttered", message(here.session_id, "宽带断了"), timeout=10) == {"ok": True}
            assert await here.sio.call("user_uttered", message(here.session_id, "在吗"), timeout=10) == {
                "ok": False, "reason": "rate_limited"}
            told = await here.replies_until(lambda m: "custom" in m, timeout=10)
            assert told[-1] == {"custom": {"kind": "notice", "reason": "rate_limited"}}
            assert await heard_after_marker(redis, there, here.session_id, beside) == [["您好"], ["您好"]]
            assert [t["message"] for t in there.typed] == ["宽带断了"]


async def test_a_conversation_in_one_tab_publishes_no_copy_of_what_the_customer_types(redis_url, redis):  # noqa: F811
    """The copy for other tabs was published on Redis for every message, and decoded by every other
    worker, though most conversations are open in one tab (bench/webchat_echo.py). With one, it is not
    sent at all; a second tab opened later, on another worker, gets the next message."""
    listening = redis.pubsub(ignore_subscribe_messages=True)
    await listening.subscribe(channel_of(redis))
    try:
        first, second = worker(redis_url), worker(redis_url)
        async with served(first, Assistant()) as first_url, \
                served(second, Assistant()) as second_url, page(first_url) as here:
            # Redis's channels are the server's, not a database's: another test process's workers publish on this one
            # too (found in CI: five copies of others' replies). Only these two workers' are counted.
            ours = {first.sio.manager.host_id, second.sio.manager.host_id}
            assert await here.sio.call("user_uttered", message(here.session_id, "宽带断了"), timeout=10) == {"ok": True}
            await here.replies_until(lambda m: m.get("text") == "您好", timeout=15)
            # The worker publishes in order: its marker, to a room nobody is in, comes after all it sent before.
            await first.sio.emit("bot_uttered", {"text": MARKER}, room="nobody", namespace="/")
            published = []
            deadline = asyncio.get_running_loop().time() + 15
            while not published or published[-1]["data"] != {"text": MARKER}:  # None: the subscription's own
                assert asyncio.get_running_loop().time() < deadline, "the marker was never published"
                raw = await listening.get_message(timeout=1)
                if raw is not None and json.loads(raw["data"]).get("host_id") in ours:
                    published.append(json.loads(raw["data"]))
            assert [p["event"] for p in published] == ["bot_uttered", "bot_uttered"], "the reply, the marker"
            async with page(second_url, here.session_id) as there:
                assert await here.sio.call("user_uttered", message(here.session_id, "还是不行"), timeout=10) == {
                    "ok": True}
                await there.replies_until(lambda m: m.get("text") == "您好", timeout=15)
                assert [t["message"] for t in there.typed] == ["还是不行"]
    finally:
        await listening.unsubscribe()
        await listening.close()


class PausingMidTurn(Assistant):
    """A turn of two replies that waits between them until told to go on."""

    FIRST, SECOND = "请先重启光猫。", "还不行的话请回复“没解决”。"

    def __init__(self) -> None:
        super().__init__()
        self.go_on = asyncio.Event()

    async def __call__(self, message) -> None:
        self.heard.append(message)
        await message.output_channel.send_response(message.sender_id, {"text": self.FIRST})
        await self.go_on.wait()
        await message.output_channel.send_response(message.sender_id, {"text": self.SECOND})


async def test_a_tab_back_on_another_worker_mid_turn_gets_the_rest_of_the_turn(redis_url, redis):  # noqa: F811
    """Why a turn's replies are published though its conversation counted one tab, on the worker running the
    turn (a review asked for them to go to that worker's sockets only): the tab's connection may be lost
    mid-turn and come back on another worker, asking for its session without ``seen_at`` (the chat page has
    none before its first timestamped reply; a widget never sends one), so nothing is replayed to it. It
    was not counted when the turn began; only the publish brings it the rest of the turn."""
    assistant = PausingMidTurn()
    async with served(worker(redis_url), assistant) as first_url, \
            served(worker(redis_url), Assistant()) as second_url:
        async with page(first_url) as here:
            session_id = here.session_id
            assert await here.sio.call("user_uttered", message(session_id, "宽带断了"), timeout=10) == {"ok": True}
            await here.replies_until(lambda m: m.get("text") == assistant.FIRST, timeout=10)
        async with page(second_url, session_id) as back:  # the connection lost, back through the other worker
            assistant.go_on.set()
            await back.replies_until(lambda m: m.get("text") == assistant.SECOND, timeout=10)
