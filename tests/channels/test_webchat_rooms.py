"""What arrives on the web chat's Redis channel for rooms across workers (``RoomsAcrossWorkers``).

Every worker reads that channel; anyone able to publish on the Redis (a neighbour service on a shared
Redis, one without a password in a flat network) can put a message there. Served in process as
``test_webchat_inflight``: the real channel on a Sanic server of its own, a real Redis, the page's
real Socket.IO client. Replies to the page go through the same channel, after what was published
before them: a reply reaching the page means the listener read everything published earlier.
"""
from __future__ import annotations

import json
import logging
import os
import pickle

from bot.channels.webchat import ROOMS_CHANNEL
from tests.channels.test_webchat_inflight import (  # noqa: F401  the secrets fixture
    Assistant, message, page, secrets_in_environment, served, worker,
)
from tests.handoff.conftest import redis, redis_url  # noqa: F401  the same real Redis fixtures


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
            await redis.publish(ROOMS_CHANNEL, pickle.dumps(MakesADirectory(str(ran))))
            await redis.publish(ROOMS_CHANNEL, b"not json at all \xff")
            await redis.publish(ROOMS_CHANNEL, json.dumps({"method": "disconnect", "sid": ["a", "list"]}))
            said = message(chat.session_id, "宽带断了")
            assert await chat.sio.call("user_uttered", said, timeout=10) == {"ok": True}
            replies = await chat.replies_until(lambda m: m.get("text") == "您好", timeout=15)
    assert not ran.exists(), "a message on the rooms channel ran code in the worker"
    assert [r.get("text") for r in replies] == ["您好"]
    unreadable = [r for r in caplog.records if r.getMessage().startswith("webchat.rooms.unreadable")]
    assert len(unreadable) == 1, "the operator is told, once, not once per message"
