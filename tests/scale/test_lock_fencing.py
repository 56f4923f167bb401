"""Fencing the conversation lock: a turn whose lock lapsed while Redis hung stores nothing of itself.

A Redis that hangs for longer than two leases lets the lock's record expire however the holder renews,
and the conversation's next message (on another worker) takes the lock while the first turn still runs.
Here the turns are Rasa's own ``Agent.handle_message`` (the lock, then the processor) under Kefu's turn
guard, with a processor that answers from the stored conversation as Rasa's does: it reads the tracker,
answers with what the customer said before, and saves.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import time

import pytest
import redis
from rasa.core.agent import Agent
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.shared.core.events import BotUttered, UserUttered

import bot.lock_store
from bot import settings as settings_module
from bot.embedded_redis import EmbeddedRedis
from bot.lock_store import AsyncRedisLockStore
from bot.observability import rasa_guards
from bot.channels.webchat import WebChatOutput
from bot.settings import redis_parts
from tests.scale.test_tracker_store import make_store

pytestmark = pytest.mark.realtime

LEASE_S = 0.5  # the lock's record expires two leases (1 s) after its last renewal


class Processor:
    """Rasa's processor in small: read the conversation, answer from it, save it. ``during`` runs between
    reading and saving (where a slow action would be)."""

    def __init__(self, store, during=None) -> None:
        self.store, self.during = store, during

    async def handle_message(self, message: UserMessage):
        tracker = await self.store.get_or_create_tracker(message.sender_id)
        said_before = [event.text for event in tracker.events if isinstance(event, UserUttered)]
        tracker.update(UserUttered(message.text, message_id=message.message_id))
        if self.during is not None:
            during, self.during = self.during, None  # once: the slow step of its first run
            await during()
        answer = f"{message.text} <- {said_before}"
        tracker.update(BotUttered(answer))
        await message.output_channel.send_text_message(message.sender_id, answer)
        await self.store.save(tracker)
        return getattr(message.output_channel, "messages", None)


class Worker:
    """One Rasa worker process: its own lock store and tracker store clients."""

    def __init__(self, url: str, during=None, lock_url: str | None = None) -> None:
        """``lock_url``: where its ``lock_store`` points, when not at ``url`` as spelt there."""
        parts = redis_parts(lock_url or url)
        self.lock_store = AsyncRedisLockStore(host=parts["host"], port=parts["port"], db=parts["db"])
        self.processor = Processor(make_store(url), during)
        self.tracker_store = self.processor.store
        self.domain = None

    def is_ready(self) -> bool:
        return True

    async def say(self, text: str, message_id: str | None = None) -> list[str]:
        output = CollectingOutputChannel()
        await Agent.handle_message(self, UserMessage(text, output, "customer", message_id=message_id))
        return [reply["text"] for reply in output.messages]

    async def say_on(self, page: "Page", text: str) -> None:
        """As the web chat does: each reply sent to the page as it comes, before the turn's save."""
        await Agent.handle_message(self, UserMessage(text, WebChatOutput(page, "bot_uttered"), "customer",
                                                     input_channel="socketio"))


class Page:
    """The customer's chat page, as the web chat's output reaches it (its Socket.IO server's emit)."""

    def __init__(self) -> None:
        self.shown: list[str] = []

    async def emit(self, event: str, data: dict, room: str | None = None, **kwargs) -> None:
        self.shown.append(data["text"])


@pytest.fixture
def hangable(tmp_path, monkeypatch):
    server = EmbeddedRedis(tmp_path / "redis").start()
    monkeypatch.setenv("KEFU_REDIS_TIMEOUT_SECONDS", "0.3")
    settings_module.get_settings.cache_clear()
    monkeypatch.setattr(bot.lock_store, "LEASE_S", LEASE_S)
    rasa_guards.install()
    yield server
    os.kill(server.process.pid, signal.SIGCONT)
    server.stop()
    settings_module.get_settings.cache_clear()


async def hang_past_two_leases(server, worker: Worker) -> None:
    """Redis stops answering for longer than two leases; the worker's renewals fail throughout and its
    renewing thread gets round again only after the next message took the lock (a busy machine)."""
    os.kill(server.process.pid, signal.SIGSTOP)
    worker.lock_store._renewer.stop()
    await asyncio.sleep(2 * LEASE_S + 0.3)  # the length of the fault, not a wait for a result
    os.kill(server.process.pid, signal.SIGCONT)
    holder = worker.lock_store._keys("customer")[1]
    assert not await worker.processor.store.redis.exists(holder), "the lock's record outlived the hang"


def stored_conversation(url: str) -> list[tuple[str, str]]:
    """What the customer and the bot said, as stored (in order)."""
    client = redis.Redis(**{k: redis_parts(url)[k] for k in ("host", "port", "db")})
    events = map(json.loads, client.lrange(make_store(url).prefix + "customer", 0, -1))
    return [(event["event"], event["text"]) for event in events if event["event"] in ("user", "bot")]


async def test_a_turn_whose_lock_lapsed_in_a_redis_hang_is_answered_again_from_the_record(hangable):
    """Found in review: with Redis hung past two leases the customer's next message, on another worker,
    took the lock while the first turn still ran; both were answered from the same conversation (the
    second knew nothing of the first, and the first, saved last, nothing of the second), and the stored
    conversation had an answer that ignored the message before it. The first turn now stores nothing
    (its save is fenced) and is answered again, under a fresh lock, from the conversation as it is."""
    url = hangable.url
    there = Worker(url)
    answers: dict[str, list[str]] = {}

    async def hang_then_next_message() -> None:
        await hang_past_two_leases(hangable, here)
        answers["second"] = await there.say("second")  # the customer's next message, another worker

    here = Worker(url, during=hang_then_next_message)
    answers["first"] = await here.say("first")

    assert answers == {"second": ["second <- []"], "first": ["first <- ['second']"]}
    assert stored_conversation(url) == [("user", "second"), ("bot", "second <- []"),
                                        ("user", "first"), ("bot", "first <- ['second']")]


async def test_a_hang_with_no_other_message_costs_nothing(hangable):
    """The lock's record expired in the hang and nobody took it since: the turn takes it back at its
    save (fenced, not refused), and the next message waits for it as usual."""
    url = hangable.url
    here = Worker(url)
    here.processor.during = lambda: hang_past_two_leases(hangable, here)
    assert await here.say("first") == ["first <- []"]
    assert await Worker(url).say("second") == ["second <- ['first']"]
    assert stored_conversation(url) == [("user", "first"), ("bot", "first <- []"),
                                        ("user", "second"), ("bot", "second <- ['first']")]


async def test_a_renewal_after_the_release_does_not_take_the_lock_back(hangable):
    """A renewal sent before the turn released, and answered after, must not lock the conversation for
    a lease with nobody in it (an expired record is taken back; a released one is not)."""
    worker = Worker(hangable.url)
    keys = worker.lock_store._keys("customer")
    client = redis.Redis(**{k: redis_parts(hangable.url)[k] for k in ("host", "port", "db")})
    client.register_script(bot.lock_store.ACQUIRE)(keys=keys, args=["turn", 500, "1"])
    client.register_script(bot.lock_store.RELEASE)(keys=keys, args=["turn", 500])
    assert client.register_script(bot.lock_store.RENEW)(keys=keys, args=["turn", 500]) == 0
    got, _ = client.register_script(bot.lock_store.ACQUIRE)(keys=keys, args=["next", 500, "1"])
    assert got == 1


async def test_a_worker_frozen_past_its_lease_does_not_store_a_turn_taken_over_elsewhere(hangable):
    """A web chat worker frozen whole (SIGSTOP, swapped out) for longer than the leases looks dead: another
    worker takes its message over (``bot.channels.webchat_inflight``, same message id) and answers it. The
    frozen worker, woken, went on with its turn and stored it too: the message and its answer twice in
    the conversation, and two answers. Its save is now fenced, and the message, stored already, is not
    run again."""
    url = hangable.url
    there = Worker(url)
    answers: dict[str, list[str]] = {}

    async def frozen_then_taken_over() -> None:
        here.lock_store._renewer.stop()  # the whole process stops: its renewing thread too
        time.sleep(LEASE_S + 0.2)  # and its event loop; the length of the fault, not a wait for a result
        answers["taken over"] = await there.say("first", message_id="m1")

    here = Worker(url, during=frozen_then_taken_over)
    answers["frozen"] = await here.say("first", message_id="m1")

    assert answers == {"taken over": ["first <- []"], "frozen": []}
    assert stored_conversation(url) == [("user", "first"), ("bot", "first <- []")]


async def test_a_frozen_worker_that_saves_while_the_take_over_runs_does_not_run_it_again(hangable):
    """The same, the frozen worker waking while the take-over is still running: its save is refused, and
    its run again waits for the lock and then finds the message answered (checked under the lock)."""
    url = hangable.url
    taking_over, frozen_done, answers = asyncio.Event(), asyncio.Event(), {}

    async def while_the_frozen_worker_waits_again() -> None:
        taking_over.set()
        line = here.lock_store._keys("customer")[0]
        # until the woken worker queued behind this turn (on the code before it never did: it saved over it)
        while await there.tracker_store.redis.llen(line) < 2 and not frozen_done.is_set():
            await asyncio.sleep(0.01)

    async def frozen_then_woken_during_the_take_over() -> None:
        here.lock_store._renewer.stop()
        time.sleep(LEASE_S + 0.2)  # the whole process frozen past its lease
        answers["taken over"] = asyncio.create_task(there.say("first", message_id="m1"))
        await taking_over.wait()

    there = Worker(url, during=while_the_frozen_worker_waits_again)
    here = Worker(url, during=frozen_then_woken_during_the_take_over)
    answers["frozen"] = await here.say("first", message_id="m1")
    frozen_done.set()

    assert {"taken over": await answers["taken over"], "frozen": answers["frozen"]} == \
        {"taken over": ["first <- []"], "frozen": []}
    assert stored_conversation(url) == [("user", "first"), ("bot", "first <- []")]


async def test_a_lock_store_in_another_redis_database_is_said_and_writes_no_stray_lock_keys(hangable, caplog):
    """Found in review: the fence checks the lock in the tracker store's Redis. An operator who points
    ``lock_store`` at another Redis or database got no fence at all, silently, and stray lock keys written
    beside the conversations at every save. Now the save says so (an error, once) and stores unfenced."""
    url = hangable.url
    worker = Worker(url)
    parts = redis_parts(url)
    worker.lock_store = AsyncRedisLockStore(host=parts["host"], port=parts["port"], db=parts["db"] + 1)

    with caplog.at_level(logging.ERROR, logger="bot.tracker_store"):
        assert await worker.say("first") == ["first <- []"]
        assert await worker.say("second") == ["second <- ['first']"]

    tracker_db = redis.Redis(**{k: parts[k] for k in ("host", "port", "db")})
    assert tracker_db.keys("kefu:lock:*") == [], "lock keys written where no lock lives"
    said = [r.getMessage() for r in caplog.records if "lock.fence_disabled" in r.getMessage()]
    assert len(said) == 1 and f"/{parts['db'] + 1}" in said[0] and f"/{parts['db']}" in said[0]


async def test_a_web_chat_turn_whose_lock_lapsed_shows_no_stale_reply(hangable):
    """Found in the fencing review: the web chat sends each reply as the turn goes, so a turn whose lock was
    taken in a Redis hang had shown its stale answer ("first <- []", which ignores "second") before its
    save was refused, and the page showed it beside the answer made from the record. The reply now checks
    the lock first (free while the lease was confirmed lately; past it, one round trip): the stale turn
    stops there and is answered again."""
    url = hangable.url
    page, there = Page(), Worker(url)

    async def hang_then_next_message() -> None:
        await hang_past_two_leases(hangable, here)
        await there.say_on(page, "second")

    here = Worker(url, during=hang_then_next_message)
    await here.say_on(page, "first")

    assert page.shown == ["second <- []", "first <- ['second']"]
    assert stored_conversation(url) == [("user", "second"), ("bot", "second <- []"),
                                        ("user", "first"), ("bot", "first <- ['second']")]


async def test_a_web_chat_reply_after_a_hang_nobody_used_is_sent(hangable):
    """The lease lapsed in the hang but nobody took the lock: the reply's look takes it back and is sent."""
    page, here = Page(), Worker(hangable.url)
    here.processor.during = lambda: hang_past_two_leases(hangable, here)
    await here.say_on(page, "first")
    assert page.shown == ["first <- []"]
    assert stored_conversation(hangable.url) == [("user", "first"), ("bot", "first <- []")]


async def test_a_frozen_web_chat_worker_shows_no_second_answer_when_it_wakes(hangable):
    """The frozen worker of the take-over test on the web chat: woken, it sent its answer to the page (the
    second of the same message) before its save was refused. Its reply's look now finds the lock taken."""
    url = hangable.url
    page, there = Page(), Worker(url)

    async def frozen_then_taken_over() -> None:
        here.lock_store._renewer.stop()
        time.sleep(LEASE_S + 0.2)  # the whole process frozen past its lease; the length of the fault
        await Agent.handle_message(there, UserMessage("first", WebChatOutput(page, "bot_uttered"), "customer",
                                                      input_channel="socketio", message_id="m1"))

    here = Worker(url, during=frozen_then_taken_over)
    await Agent.handle_message(here, UserMessage("first", WebChatOutput(page, "bot_uttered"), "customer",
                                                 input_channel="socketio", message_id="m1"))

    assert page.shown == ["first <- []"]
    assert stored_conversation(url) == [("user", "first"), ("bot", "first <- []")]


def fence_disabled_said(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "lock.fence_disabled" in r.getMessage()]


async def a_lapsed_turn_is_answered_again(server, url: str, lock_url: str, before: list[str],
                                          here: Worker | None = None) -> None:
    """The first test's scenario, on two workers whose ``lock_store`` points at ``lock_url`` (the lapsed turn's:
    ``here``, if given), after the customer said ``before``: fenced, the turn whose lock was taken in the hang
    is answered again from the record (unfenced, its stale answer was stored after the next message's)."""
    there, answers = Worker(url, lock_url=lock_url), {}

    async def hang_then_next_message() -> None:
        await hang_past_two_leases(server, here)
        answers["next"] = await there.say("next")

    here = here or Worker(url, lock_url=lock_url)
    here.processor.during = hang_then_next_message
    answers["lapsed"] = await here.say("lapsed")
    assert answers == {"next": [f"next <- {before}"], "lapsed": [f"lapsed <- {before + ['next']}"]}
    assert stored_conversation(url)[-4:] == [("user", "next"), ("bot", f"next <- {before}"),
                                             ("user", "lapsed"), ("bot", f"lapsed <- {before + ['next']}")]


def loopback_name() -> str:
    """This machine's host name, where it names the loopback address (as on most Linux machines)."""
    name = socket.gethostname()
    try:
        if socket.gethostbyname(name) == "127.0.0.1":
            return name
    except OSError:
        pass
    pytest.skip(f"the host name {name} does not resolve to 127.0.0.1 here")


@pytest.mark.parametrize("lock_host", ["localhost", "127.1", "[::ffff:127.0.0.1]",
                                       pytest.param(loopback_name, id="host-name")])
async def test_a_lock_store_that_names_the_same_redis_otherwise_is_fenced(hangable, caplog, lock_host):
    """Found in review: whether the lock lived in the tracker store's Redis was decided by comparing the two
    addresses as written (only ``localhost`` was known to be ``127.0.0.1``), so another name or spelling of
    one Redis's address (the machine's host name, ``127.1``, IPv4 in IPv6) switched the fence off:
    ``lock.fence_disabled`` logged, and a turn whose lock was taken in a Redis hang stored its stale answer
    after the next message's. Now the servers are asked."""
    lock_url = hangable.url.replace("127.0.0.1", lock_host if isinstance(lock_host, str) else lock_host())
    assert lock_url != hangable.url
    with caplog.at_level(logging.ERROR, logger="bot.tracker_store"):
        await a_lapsed_turn_is_answered_again(hangable, hangable.url, lock_url, before=[])
    assert fence_disabled_said(caplog) == []


async def test_a_lock_store_in_another_redis_server_is_said_and_not_fenced(hangable, tmp_path, caplog):
    """Two Redis servers really are two: the save stores unfenced and says so once, naming both, and no
    lock key is written beside the conversations."""
    other = EmbeddedRedis(tmp_path / "other").start()
    try:
        worker = Worker(hangable.url, lock_url=other.url)
        with caplog.at_level(logging.ERROR, logger="bot.tracker_store"):
            assert await worker.say("first") == ["first <- []"]
            assert await worker.say("second") == ["second <- ['first']"]
        said = fence_disabled_said(caplog)
        assert len(said) == 1 and f":{other.port}/0" in said[0] and f":{hangable.port}/0" in said[0], said
        tracker_db = redis.Redis(port=hangable.port)
        assert tracker_db.keys("kefu:lock:*") == [], "lock keys written where no lock lives"
        assert redis.Redis(port=other.port).keys("kefu:lock:*same-redis*") == [], "a probe left behind"
    finally:
        other.stop()


def restart(server: EmbeddedRedis) -> None:
    """The one Redis stops and starts again on its port, from its append-only file (a new run_id)."""
    server.port_given = True  # the same port, as a real Redis comes back
    server.stop()
    server.start()


async def test_the_one_redis_down_at_the_first_save_or_restarted_later_leaves_the_fence_on(hangable, caplog):
    """Sameness is decided once per process, at the first fenced save. A Redis that is down then decides
    nothing (that save fails, as its append would: the apology) and the next save asks again; a restart
    after the decision changes nothing. Both ways the fence stays on for the one Redis."""
    url = hangable.url
    lock_url = url.replace("127.0.0.1", "127.1")
    assert await Worker(url).say("first") == ["first <- []"]  # begun on another worker: nothing to save on reading
    worker = Worker(url, lock_url=lock_url)
    worker.processor.during = lambda: asyncio.to_thread(hangable.stop)  # down at this process's first save
    with caplog.at_level(logging.WARNING):
        await worker.say("lost")  # the apology (none in this test's domain)
        assert any("turn.store_unavailable" in r.getMessage() for r in caplog.records)
        hangable.port_given = True
        hangable.start()
        assert stored_conversation(url) == [("user", "first"), ("bot", "first <- []")]

        assert await worker.say("second") == ["second <- ['first']"]  # the same process: asked again, and fenced
        restart(hangable)  # after the decision: this process keeps it
        await a_lapsed_turn_is_answered_again(hangable, url, lock_url, before=["first", "second"], here=worker)
    assert fence_disabled_said(caplog) == []
