"""Customer-service messages WeChat refused for quota (45047), kept until the follower writes again.

WeChat allows an official account a limited number of customer-service messages after each action
of the follower (5 within 48 hours of a message; 3 within a minute of a menu click, a subscribe or a
QR-code scan) and refuses the rest with errcode 45047. A refused reply, or the later parts of a
long one, would be lost: they are kept here in order, per follower, and sent before anything new
as soon as the follower writes again (``reopens_quota``), which gives the account a fresh quota.
The bot's own reply is kept the same way when WeChat's API failed on it (``WeChatInput.push``).
A follower who unsubscribes can receive none of them: they are dropped (``WeChatInput._drop_held``).

The quota is counted too (``wrote``, ``count_sent``), so the waiting room's place-in-line notices leave room
for what matters more (``room_for_notice``): a follower whose place changed five times in a busy queue
used the whole quota on notices, and the agent's "已为您接入" and first words were held unseen, the follower
waiting on, until they happened to write again (found driving the channel as a follower). A notice held
behind a later message is stale, and dropped (``current``).

Held messages live in Redis (a list per follower, the JSON bodies of /cgi-bin/message/custom/send)
so every worker sees them; sending to one follower is serialised by a lock so a newer message
never overtakes a held one. Without Redis (development) both fall back to process memory.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from typing import Any, AsyncIterator


from bot.channels.guard import ChannelGuard
from bot.redis_lock import held

logger = logging.getLogger(__name__)

# Under the channel guard's prefix (``kefu:wechat``) + the openid: a customer's erasure and export reach it
# (``bot/privacy/conversations.py``; a WeChat conversation's id is the openid).
HELD = "held:"
QUOTA = HELD + "quota:"  # + the openid: the quota WeChat gave the account and what it used (``wrote``)
# Older than WeChat's 48-hour window, a held reply would reach a follower out of context.
HELD_TTL_S = 48 * 3600
# Longest one follower's sending may hold the lock (a few 4 s sends); a dead worker's lock lapses.
SEND_LOCK_S = 30
# Events after which WeChat allows customer-service messages again (besides every ordinary message):
# a menu click of the three "push" kinds, a subscribe, a QR-code scan.
QUOTA_EVENTS = {"subscribe", "scan", "click", "scancode_push", "scancode_waitmsg"}
# How many customer-service messages WeChat allows after a message of the follower, and after one of those events.
QUOTA_AFTER_MESSAGE, QUOTA_AFTER_EVENT = 5, 3
# Of the quota, kept free of queue notices: an agent's "已为您接入" and first words.
KEPT_FOR_AGENT = 2


# A held body's mark (taken off before it is sent): a place-in-line notice, which a later message supersedes.
NOTICE = "kefu_notice"


def as_notice(bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The bodies of one place-in-line notice, marked as one (its parts never supersede each other)."""
    mark = uuid.uuid4().hex
    return [{**body, NOTICE: mark} for body in bodies]


def current(queue: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``queue`` without the notices a later message in it supersedes: a newer place, the agent's "已为您接入",
    anything said after it. Found in a review: a notice refused for quota was held, and reached the follower
    when they wrote again, stale (第 1 位), before 已为您接入."""
    return [body for at, body in enumerate(queue)
            if body.get(NOTICE) is None or all(later.get(NOTICE) == body[NOTICE] for later in queue[at + 1:])]


def sendable(body: dict[str, Any]) -> dict[str, Any]:
    """The body as WeChat's API takes it (without Kefu's mark)."""
    return {key: value for key, value in body.items() if key != NOTICE}


def reopens_quota(fields: dict[str, str]) -> bool:
    """Whether this inbound message gives the account a fresh customer-service quota."""
    if (fields.get("MsgType") or "").lower() != "event":
        return True
    return (fields.get("Event") or "").lower() in QUOTA_EVENTS


class HeldMessages:
    """The held messages of each follower, in the order they must reach them."""

    def __init__(self, guard: ChannelGuard) -> None:
        self.guard = guard
        self._memory: dict[str, list[dict[str, Any]]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._quota: dict[str, list[int]] = {}  # without Redis: openid -> [allowed, sent]

    def _key(self, openid: str) -> str:
        return self.guard.key(HELD + openid)

    def _quota_key(self, openid: str) -> str:
        return self.guard.key(QUOTA + openid)

    async def wrote(self, openid: str, fields: dict[str, str]) -> None:
        """The follower's message (or menu click, subscribe, scan) gave the account a fresh quota."""
        allowed = QUOTA_AFTER_MESSAGE if (fields.get("MsgType") or "").lower() != "event" else QUOTA_AFTER_EVENT
        client = self.guard.client()
        if client is None:
            self._quota[openid] = [allowed, 0]
            return
        async with client.pipeline(transaction=True) as pipe:
            pipe.hset(self._quota_key(openid), mapping={"allowed": allowed, "sent": 0})
            pipe.expire(self._quota_key(openid), HELD_TTL_S)
            await pipe.execute()

    async def count_sent(self, openid: str) -> None:
        """One more customer-service message reached the follower."""
        client = self.guard.client()
        if client is None:
            if openid in self._quota:
                self._quota[openid][1] += 1
            return
        async with client.pipeline(transaction=True) as pipe:
            pipe.hincrby(self._quota_key(openid), "sent", 1)
            pipe.expire(self._quota_key(openid), HELD_TTL_S)
            await pipe.execute()

    async def room_for_notice(self, openid: str) -> bool:
        """Whether a notice that a later one supersedes (a place in line) may use the quota: not its last
        ``KEPT_FOR_AGENT`` messages. Unknown (no message of the follower seen for 48 hours): yes."""
        client = self.guard.client()
        if client is None:
            allowed, sent = self._quota.get(openid, (None, 0))
        else:
            allowed, sent = await client.hmget(self._quota_key(openid), ["allowed", "sent"])
        if allowed is None:
            return True
        return int(sent or 0) < int(allowed) - KEPT_FOR_AGENT

    async def pending(self, openid: str) -> list[dict[str, Any]]:
        client = self.guard.client()
        if client is None:
            return list(self._memory.get(openid, []))
        return [json.loads(raw) for raw in await client.lrange(self._key(openid), 0, -1)]

    async def keep(self, openid: str, messages: list[dict[str, Any]]) -> None:
        """From now on ``messages`` (and nothing else) are what this follower is owed, in order."""
        client = self.guard.client()
        if client is None:
            self._memory[openid] = list(messages)
            return
        async with client.pipeline(transaction=True) as pipe:
            pipe.delete(self._key(openid))
            if messages:
                pipe.rpush(self._key(openid), *(json.dumps(m, ensure_ascii=False) for m in messages))
                pipe.expire(self._key(openid), HELD_TTL_S)
            await pipe.execute()

    async def sending(self, openid: str) -> bool:
        """Whether a worker is sending to this follower right now (a passive reply would overtake it)."""
        client = self.guard.client()
        if client is None:
            lock = self._locks.get(openid)
            return bool(lock and lock.locked())
        return bool(await client.exists(self._key(f"sending:{openid}")))

    @contextlib.asynccontextmanager
    async def sending_to(self, openid: str) -> AsyncIterator[None]:
        """Only one worker sends to a follower at a time: their messages arrive in the order sent."""
        client = self.guard.client()
        if client is None:
            async with self._locks.setdefault(openid, asyncio.Lock()):
                yield
            return
        async with held(client, self._key(f"sending:{openid}"), SEND_LOCK_S) as acquired:
            if not acquired:  # a stuck sender: better send out of turn than not at all
                logger.warning("wechat.push.lock_timeout sender=%s", openid)
            yield
