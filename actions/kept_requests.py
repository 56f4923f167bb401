"""Requests the database could not take (a repair, a complaint, a callback), kept in Redis and filed once it is back.

Found by an on-call tester: with the database down, a complaint got "系统暂时查询不到您的信息" and was
filed nowhere; only an agent who took the chat could still see it. Now an action that cannot reach the
database keeps the conversation as it stood (its tracker: the customer's words, the number they gave,
the channel) in one Redis list per database, and the customer hears that the request is recorded and
will be registered, with no ticket number (none exists yet).

The entry also names whom the channel proved the customer to be (caller ID, a bound WeChat account),
checked when it is kept: the signed claim in the message lapses in minutes, and a repair filed after a
longer outage found nobody and was set aside (``identity.CLAIMS_WHEN_KEPT``).

Every action-server process looks at the list every ``LOOK_EVERY_S``; the one holding the drain lock runs
the same action again on the kept tracker, so the ticket, its history and its outcome events are those of
a normal filing. An entry leaves the list only once it is filed, and only while its drainer still holds
the lock (one atomic script); a database that still refuses leaves it for the next look. Exactly once: a
new ticket carries the entry's id (``details.kept_request``), and an entry whose ticket exists already
(its drainer died between filing and removing it) is removed without filing again. An entry whose filing
fails with a bug, or that files nothing when run again (the account number given is nobody's), is set aside in
``<list>:failed`` and logged, so it holds up no other and an operator sees it (``kefu_kept_requests``).
A chase of the customer's open ticket (no new ticket) is exactly once the same way: the ticket's
``details.kept_requests`` lists the entries already joined to it (``actions.repairs.join_ticket``).

An entry is the conversation itself, so it lives no longer than the conversation would: one kept longer
than ``KEFU_TRACKER_EXPIRY_SECONDS`` ago is dropped and logged (``requests.kept.expired``), not filed,
from either list. ``kefu customer erase`` removes a customer's entries (``bot/privacy/kept_requests.py``).
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
import uuid
from contextvars import ContextVar
from typing import Any, Awaitable, Callable

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from redis.exceptions import RedisError

from actions.backend import db, repository
from actions.chain import find_action
from actions.identity import CLAIMS_WHEN_KEPT, db_error, message_claims
from bot.db.repository import DatabaseError
from bot.handoff.masking import tracker_without_proofs
from bot.kept_lists import LOCK_TTL_MS, drain_lock_key, expired, failed_key, kept_at, kept_key
from bot.redis_lock import RELEASE_IF_HOLDER
from bot.security.claims import Claim
from bot.settings import get_settings

logger = logging.getLogger(__name__)

LOOK_EVERY_S = 5.0

# The id of the kept request being filed now: ``open_ticket`` writes it into the ticket's details.
FILING: ContextVar[str | None] = ContextVar("kept_request_filing", default=None)

# Take the head entry off the list (and, with ARGV[3] = "1", set it aside) only while holding the lock.
_TAKE_IF_HOLDER = """
if redis.call('get', KEYS[2]) ~= ARGV[1] or redis.call('lindex', KEYS[1], 0) ~= ARGV[2] then return 0 end
redis.call('lpop', KEYS[1])
if ARGV[3] == '1' then redis.call('rpush', KEYS[3], ARGV[2]) end
return 1
"""


class StillDown(Exception):
    """The database refused a kept request again: it stays in the list."""


class NotFiled(Exception):
    """A kept request that, run again, filed nothing (e.g. the number given is nobody's): set aside."""


class KeptRequests:
    """``retention_s``: entries kept longer ago are dropped, not filed (0: never)."""

    def __init__(self, client, database_url: str, retention_s: int = 0) -> None:
        self.client = client
        self.key = kept_key(database_url)
        self.lock_key = drain_lock_key(database_url)
        self.failed_key = failed_key(database_url)
        self.retention_s = retention_s

    async def keep(self, action_name: str, tracker: Tracker) -> str:
        entry_id = uuid.uuid4().hex
        await self.client.rpush(self.key, json.dumps(
            {"id": entry_id, "action": action_name, "kept_at": time.time(),
             # a code or password the customer named is no more kept here than in the tracker store
             "tracker": tracker_without_proofs(tracker.current_state()),
             # who the channel proved the customer is (caller ID, a WeChat account), checked now: its
             # signed claim lapses in minutes, the filing may come hours later
             "claims": [dataclasses.asdict(claim) for claim in message_claims(tracker)]},
            ensure_ascii=False))
        return entry_id

    async def count(self) -> int:
        return int(await self.client.llen(self.key))

    async def set_aside_count(self) -> int:
        return int(await self.client.llen(self.failed_key))

    def too_old(self, raw: str | bytes) -> bool:
        return expired(json.loads(raw), self.retention_s, time.time())

    async def drop(self, key: str, raw: str | bytes, token: str) -> bool:
        """Drop an expired head entry of ``key``, unfiled; False when the lock lapsed (nothing taken)."""
        if not await self.client.eval(_TAKE_IF_HOLDER, 3, key, self.lock_key, key, token, raw, "0"):
            return False
        entry = json.loads(raw)
        logger.warning("requests.kept.expired list=%s action=%s conversation=%s kept_at=%s",
                       "set_aside" if key == self.failed_key else "waiting", entry.get("action"),
                       (entry.get("tracker") or {}).get("sender_id"), kept_at(entry))
        return True

    async def drain(self, file: Callable[[dict], Awaitable[bool]]) -> int | None:
        """File kept entries oldest first through ``file`` (False: it was filed already) until none is left
        or the database refuses (``StillDown`` / ``DatabaseError``); how many were filed now, or None when
        another process drains."""
        token = uuid.uuid4().hex
        if not await self.client.set(self.lock_key, token, nx=True, px=LOCK_TTL_MS):
            return None
        filed = 0
        try:
            # Both lists are in the order entries were kept, oldest first: only a head can be expired.
            while (raw := await self.client.lindex(self.failed_key, 0)) is not None and self.too_old(raw):
                if not await self.drop(self.failed_key, raw, token):
                    return filed
            while (raw := await self.client.lindex(self.key, 0)) is not None:
                if self.too_old(raw):
                    if not await self.drop(self.key, raw, token):
                        return filed
                    continue
                set_aside, filed_now = "0", False
                try:
                    filed_now = await file(json.loads(raw))
                except (StillDown, DatabaseError):
                    return filed
                except NotFiled as exc:
                    logger.error("requests.kept.not_filed key=%s %s", self.failed_key, exc)
                    set_aside = "1"
                except Exception:  # noqa: BLE001 - a bug in one entry must not hold up the others
                    logger.exception("requests.kept.set_aside key=%s", self.failed_key)
                    set_aside = "1"
                if not await self.client.eval(_TAKE_IF_HOLDER, 3, self.key, self.lock_key, self.failed_key,
                                              token, raw, set_aside):
                    return filed  # the lock lapsed: the next drainer finds this one filed (details.kept_request)
                filed += filed_now
            return filed
        finally:
            await self.client.eval(RELEASE_IF_HOLDER, 1, self.lock_key, token)


def kept_requests() -> KeptRequests:
    from bot.handoff.queue import redis_from_settings

    settings = get_settings()
    return KeptRequests(redis_from_settings(), settings.database_url, settings.tracker_expiry_s)


async def file_kept(entry: dict) -> bool:
    """File one kept request as its action would have when it was made (the customer is not told again);
    False when its ticket exists already."""
    tracker = Tracker.from_dict(entry["tracker"])
    earlier = await db(repository().tickets_for, None, conversation_id=tracker.sender_id)
    if any((ticket.get("details") or {}).get("kept_request") == entry["id"] for ticket in earlier):
        return False
    dispatcher = CollectingDispatcher()
    filing = FILING.set(entry["id"])
    claims = CLAIMS_WHEN_KEPT.set([Claim(**c) for c in entry["claims"]] if "claims" in entry else None)
    try:
        events = await find_action(entry["action"]).run(dispatcher, tracker, {})
    finally:
        CLAIMS_WHEN_KEPT.reset(claims)
        FILING.reset(filing)
    replies = ",".join(m.get("response") or "" for m in dispatcher.messages)
    ticket_id = next((e["value"] for e in events if e.get("event") == "slot" and e.get("name") == "last_ticket_id"),
                     None)
    if not ticket_id:
        raise NotFiled(f"action={entry['action']} conversation={tracker.sender_id} replies={replies}")
    logger.info("requests.kept.filed action=%s conversation=%s ticket=%s replies=%s", entry["action"],
                tracker.sender_id, ticket_id, replies)
    return True


async def file_kept_forever(every_s: float = LOOK_EVERY_S) -> None:
    """Background task of each action-server process: file what waits, every ``every_s``."""
    while True:
        try:
            kept = kept_requests()
            if await kept.count() or await kept.set_aside_count():  # set-aside ones expire too
                filed = await kept.drain(file_kept)
                if filed is not None:
                    logger.info("requests.kept.pass filed=%d waiting=%d", filed, await kept.count())
        except RedisError as exc:
            logger.warning("requests.kept.unreachable error=%s", type(exc).__name__)
        except Exception:  # noqa: BLE001 - the task lives on: a dead one would file nothing ever again
            logger.exception("requests.kept.pass_failed")
        await asyncio.sleep(every_s)


class KeptWhenDown:
    """Mixin for an identified action whose request must outlive a database outage (before its base class).

    ``kept_response`` tells the customer it is recorded; ``kept_awaiting`` is the question it leaves open.
    """

    kept_response: str
    kept_awaiting: str | None = None

    async def database_down(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> list[dict[str, Any]]:
        if FILING.get() is not None:
            raise StillDown(self.name())
        try:
            await kept_requests().keep(self.name(), tracker)
        except RedisError:
            logger.exception("requests.kept.keep_failed action=%s conversation=%s", self.name(), tracker.sender_id)
            return db_error(dispatcher)
        logger.warning("requests.kept action=%s conversation=%s", self.name(), tracker.sender_id)
        dispatcher.utter_message(response=self.kept_response)
        return [SlotSet("pending_request", None), SlotSet("awaiting", self.kept_awaiting)]
