"""A Redis tracker store whose per-turn cost does not grow with the conversation.

Rasa's ``RedisTrackerStore`` keeps a conversation as one JSON blob: every save reads it back,
deserialises and replays it to merge, and writes it whole, with the blocking redis client on the
server's event loop. A 50-turn conversation therefore costs several times its first turn.

This store keeps each conversation as a Redis list of events (one JSON document per event) and
the list index where the latest session starts:

* ``save`` appends only the events the tracker gained since it was read (one round trip, a Lua
  script, so the session index moves with the append); a save sent again because its answer was
  lost is recognised (the list already ends with those very events) and not stored twice;
* ``retrieve`` reads the latest session only, as Rasa's stores do; ``retrieve_full_tracker``
  reads everything; a process keeps the sessions it read lately (:class:`SessionCache`) and asks
  Redis only for the events after them, so a late turn does not deserialise the whole session;
* it uses ``redis.asyncio``, so a turn never blocks the loop on Redis;
* ``record_exp`` (seconds) expires a conversation that has been idle that long, like Rasa's;
* the event broker gets the events a save adds once Redis has stored them (Rasa's stores publish
  first), without reading the stored tracker back to find them;
* an SMS code or service password the customer typed as proof is written as ``******``
  (:mod:`bot.security.secret_answers`): the turn's action checked it in memory, nothing needs it
  stored, and Redis's append-only file would keep it on disk;
* fenced: a turn whose conversation lock was taken by another turn meanwhile (Redis hung past two
  leases) stores nothing and raises ``LockLost``, checked in the append's own script
  (``bot.lock_store``); only with the lock in this store's own Redis and database, asked of the servers
  once per process (``bot.same_redis``; else not fenced, and an error logged: ``lock.fence_disabled``);
* a Redis error reaches the caller: Rasa's agent wraps every store in its ``FailSafeTrackerStore``,
  which read a failed retrieve as "no such conversation" (the turn then started it afresh) and kept
  a failed save in the process's memory; here that wrapper passes the error on
  (:func:`install_errors_pass_through`), so the turn guard apologises and nothing is kept apart.

Configure in ``endpoints.yml`` with ``type: bot.tracker_store.IncrementalRedisTrackerStore``.
Events a tracker already had when read are never rewritten: like Rasa's merge, a save adds what
the stored conversation does not have yet.
"""
from __future__ import annotations

import json
import logging
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Iterable, Optional, Text

import redis.asyncio as aioredis
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, Event, deserialise_events
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.core.tracker_store import SerializedTrackerAsText, TrackerStore

from bot.lock_store import FENCE, Fence, LockLost, fence_for
from bot.redis_reconnect import reconnecting
from bot.same_redis import Verdict, address, same_redis
from bot.security.secret_answers import storage_forms

logger = logging.getLogger(__name__)

SESSION_START = "action_session_start"
# Where the tracker object remembers what it was read from: (sender id, events already stored).
STORED_MARK = "_kefu_stored_events"

# KEYS: events list, session index, generation, then the turn's lock (line, holder) when it holds one.
# ARGV: expiry seconds (0: none), offset of the last session start among the new events (-1: none), a
# generation id for a new list, the lock's token and lease ms ('' and 0 without a lock), then the new
# events. Returns the list length, or -1 without writing anything when the lock is somebody else's
# (the fence, ``bot.lock_store.HOLDS``). New events the list already ends with, as sent (timestamps
# included), are this save sent again after its answer was lost (bot/redis_reconnect.py): they are not
# added twice.
APPEND_SCRIPT = FENCE + """
if ARGV[4] ~= '' and not holds(KEYS[4], KEYS[5], ARGV[4], tonumber(ARGV[5])) then return -1 end
local first = 6
local before = redis.call('LLEN', KEYS[1])
local count = #ARGV - first + 1
local again = count > 0 and before >= count
if again then
  local tail = redis.call('LRANGE', KEYS[1], before - count, -1)
  for i = 1, count do
    if tail[i] ~= ARGV[first - 1 + i] then again = false break end
  end
end
if again then
  before = before - count
else
  if before == 0 then redis.call('SET', KEYS[3], ARGV[3]) end
  if count > 0 then redis.call('RPUSH', KEYS[1], unpack(ARGV, first)) end
end
local offset = tonumber(ARGV[2])
if offset >= 0 then redis.call('SET', KEYS[2], before + offset) end
local ttl = tonumber(ARGV[1])
if ttl > 0 then
  for i = 1, 3 do
    if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('EXPIRE', KEYS[i], ttl) end
  end
end
return before + count
"""
# KEYS: events list, session index, generation. ARGV: 1 = only the latest session, then what the
# caller already holds: generation, session start, end index. Returns {generation, start, from,
# events from index ``from``}: only the tail when the caller's copy is still a prefix.
READ_SCRIPT = """
local start = 0
if ARGV[1] == '1' then start = tonumber(redis.call('GET', KEYS[2]) or '0') end
local generation = redis.call('GET', KEYS[3]) or ''
local from = start
local known_end = tonumber(ARGV[4])
if generation ~= '' and generation == ARGV[2] and tonumber(ARGV[3]) == start
   and known_end >= start and known_end <= redis.call('LLEN', KEYS[1]) then
  from = known_end
end
local events = redis.call('LRANGE', KEYS[1], from, -1)
table.insert(events, 1, tostring(from))
table.insert(events, 1, tostring(start))
table.insert(events, 1, generation)
return events
"""


@dataclass(frozen=True)
class CachedSession:
    generation: str
    start: int
    events: tuple[Event, ...]


class SessionCache:
    """Recently read sessions of this process, so a turn deserialises only the events it lacks.

    Redis stays the record: every read asks Redis for the events after the cached ones and checks
    the list's generation (a new id when a conversation's list is created again after expiring),
    so a stale copy is never used. Bounded by the number of events held.
    """

    def __init__(self, max_events: int = 20_000) -> None:
        self.max_events = max_events
        self._sessions: OrderedDict[str, CachedSession] = OrderedDict()
        self._size = 0

    def get(self, sender_id: str) -> CachedSession | None:
        found = self._sessions.get(sender_id)
        if found is not None:
            self._sessions.move_to_end(sender_id)
        return found

    def put(self, sender_id: str, session: CachedSession) -> None:
        old = self._sessions.pop(sender_id, None)
        self._size -= len(old.events) if old else 0
        if len(session.events) > self.max_events:
            return
        self._sessions[sender_id] = session
        self._size += len(session.events)
        while self._size > self.max_events:
            _, evicted = self._sessions.popitem(last=False)
            self._size -= len(evicted.events)


class IncrementalRedisTrackerStore(TrackerStore, SerializedTrackerAsText):
    """Conversation events in a Redis list, appended per turn; see the module docstring."""

    def __init__(
        self,
        domain: Optional[Domain] = None,
        host: Text = "localhost",
        port: int = 6379,
        db: int = 0,
        username: Optional[Text] = None,
        password: Optional[Text] = None,
        event_broker: Any = None,
        record_exp: Optional[float] = None,
        key_prefix: Optional[Text] = "kefu",
        use_ssl: bool = False,
        **kwargs: Any,
    ) -> None:
        from bot import session_keepalive
        from bot.rasa_speedups import install

        install()  # the Rasa server loads this store: the place to fix Rasa's hot spots in it
        install_errors_pass_through()
        self.redis = aioredis.Redis(host=host, port=int(port), db=int(db), username=username or None,
                                    password=password or None, ssl=bool(use_ssl), **reconnecting())
        session_keepalive.install()  # the chat page's "stay" button keeps a session (its module)
        self.record_exp = int(float(record_exp)) if record_exp else 0
        self.prefix = f"{key_prefix or 'kefu'}:events:"
        self.sessions = SessionCache()
        # Per lock store (its id, kept alive by the entry): whether its locks live in this Redis and database.
        self._lock_here: dict[int, tuple[Any, Verdict]] = {}
        self._append = self.redis.register_script(APPEND_SCRIPT)
        self._read = self.redis.register_script(READ_SCRIPT)
        super().__init__(domain, event_broker, **kwargs)

    def _keys(self, sender_id: Text) -> list[str]:
        base = self.prefix + sender_id
        return [base, base + ":session", base + ":generation"]

    async def retrieve(self, sender_id: Text) -> Optional[DialogueStateTracker]:
        return await self._retrieve(sender_id, latest_session_only=True)

    async def retrieve_full_tracker(self, conversation_id: Text) -> Optional[DialogueStateTracker]:
        return await self._retrieve(conversation_id, latest_session_only=False)

    async def _retrieve(self, sender_id: Text, latest_session_only: bool) -> Optional[DialogueStateTracker]:
        cached = self.sessions.get(sender_id) if latest_session_only else None
        known = [cached.generation, cached.start, cached.start + len(cached.events)] if cached else ["", 0, -1]
        generation, start, first, *raw_events = await self._read(
            keys=self._keys(sender_id), args=["1" if latest_session_only else "0", *known])
        generation = generation.decode() if isinstance(generation, bytes) else generation
        start, first = int(start), int(first)
        fresh = deserialise_events([json.loads(raw) for raw in raw_events])
        events = (list(cached.events) if cached and first > start else []) + fresh
        if not events:
            return None
        if latest_session_only:
            self.sessions.put(sender_id, CachedSession(generation, start, tuple(events)))
        tracker = self.init_tracker(sender_id)
        tracker.events.extend(events)
        tracker.replay_events()
        setattr(tracker, STORED_MARK, (sender_id, len(tracker.events)))
        return tracker

    async def save(self, tracker: DialogueStateTracker) -> None:
        events = list(tracker.events)
        new_events, stored_forms = await self._new_events(tracker, events)
        if not new_events and not self.record_exp:
            return
        session_offset = max((i for i, e in enumerate(new_events) if _is_session_start(e)), default=-1)
        fence = await self._usable(fence_for(tracker.sender_id))
        stored = await self._append(keys=self._keys(tracker.sender_id) + (fence.keys if fence else []),
                                    args=[self.record_exp, session_offset, uuid.uuid4().hex,
                                          *((fence.token, fence.lease_ms) if fence else ("", 0)),
                                          *(json.dumps(form, ensure_ascii=False) for form in stored_forms)])
        if stored < 0:
            raise LockLost(f"the lock on {tracker.sender_id} was taken by another turn: its events are not stored")
        setattr(tracker, STORED_MARK, (tracker.sender_id, len(events)))
        if self.event_broker is not None and new_events:
            # Rasa's ``stream_events`` reads the stored tracker back to find what is new; the store knows.
            # Once stored: events Redis refused are not counted, and counted once when the turn runs again.
            await self._stream_new_events(self.event_broker, new_events, tracker.sender_id)

    async def _usable(self, fence: Optional[Fence]) -> Optional[Fence]:
        """``fence`` if its lock lives in this store's Redis and database; else None, said loudly once. Checked
        elsewhere the fence would write stray lock keys here and refuse nothing (the lock is not here). Asked
        of the servers at the first fenced save of each lock store (``bot.same_redis``); a Redis that does not
        answer then fails this save, as it would fail the append, and the next save asks again."""
        if fence is None or fence.store is None:
            return None
        lock_store = fence.store
        verdict = self._lock_verdict(lock_store)
        if verdict is None:
            found = await same_redis(lock_store.redis, self.redis, lock_store.prefix)
            verdict = self._lock_verdict(lock_store)  # another save of this process may have asked meanwhile
            if verdict is None:
                verdict = found
                self._lock_here[id(lock_store)] = (lock_store, verdict)
                if not verdict.same:
                    logger.error("lock.fence_disabled lock_store=%s tracker_store=%s: %s; a turn whose lock lapsed "
                                 "in a Redis hang is stored unfenced. Point lock_store at the tracker_store's Redis "
                                 "server and db.", address(lock_store.redis), address(self.redis), verdict.why)
        return fence if verdict.same else None

    def _lock_verdict(self, lock_store) -> Optional[Verdict]:
        known = self._lock_here.get(id(lock_store))
        return known[1] if known is not None and known[0] is lock_store else None

    async def _new_events(self, tracker: DialogueStateTracker,
                          events: list[Event]) -> tuple[list[Event], list[dict]]:
        """The events of ``tracker`` the store does not have yet, and the forms to store them in
        (secrets blanked; compared in that form, since that is what the store holds)."""
        mark = getattr(tracker, STORED_MARK, None)
        if mark is not None and mark[0] == tracker.sender_id and mark[1] <= len(events):
            return events[mark[1]:], storage_forms(events, mark[1])
        # A tracker built elsewhere (a new one, or one Rasa rebuilt): compare with what is stored.
        forms = storage_forms(events)
        for latest_session_only in (True, False):
            stored = await self._retrieve(tracker.sender_id, latest_session_only)
            if stored is None:
                return events, forms
            stored_dicts = [e.as_dict() for e in stored.events]
            if forms[:len(stored_dicts)] == stored_dicts:
                return events[len(stored_dicts):], forms[len(stored_dicts):]
        # Diverging histories: keep what is stored and add what it lacks, as Rasa's merge does.
        known = {_event_key(d) for d in stored_dicts}
        kept = [i for i, form in enumerate(forms) if _event_key(form) not in known]
        return [events[i] for i in kept], [forms[i] for i in kept]

    async def event_count(self, sender_id: Text) -> int:
        """Events stored for the conversation (all sessions): grows whenever anything is saved into it."""
        return int(await self.redis.llen(self._keys(sender_id)[0]))

    async def exists(self, conversation_id: Text) -> bool:
        return bool(await self.redis.exists(self._keys(conversation_id)[0]))

    async def keys(self) -> Iterable[Text]:
        found = []
        async for key in self.redis.scan_iter(match=self.prefix + "*", count=500):
            name = key.decode() if isinstance(key, bytes) else key
            if not name.endswith((":session", ":generation")):
                found.append(name[len(self.prefix):])
        return found


def _raise(error: Exception) -> None:
    raise error


def _is_kefu_store(store: Any) -> bool:
    for _ in range(4):  # behind Rasa's AwaitableTrackerStore
        if isinstance(store, IncrementalRedisTrackerStore):
            return True
        store = getattr(store, "_tracker_store", None)
    return False


def install_errors_pass_through() -> None:
    """Make the ``FailSafeTrackerStore`` Rasa's agent wraps around this store raise what the store raised
    (its ``on_tracker_store_error`` hook) instead of answering "no conversation" or saving into memory."""
    from rasa.core.agent import Agent

    original = Agent.__dict__["_create_tracker_store"].__func__
    if getattr(original, "kefu_original", None) is not None:
        return

    def _create_tracker_store(store: Optional[TrackerStore], domain: Domain) -> TrackerStore:
        wrapped = original(store, domain)
        if _is_kefu_store(store):
            wrapped._on_tracker_store_error = _raise
        return wrapped

    _create_tracker_store.kefu_original = original
    Agent._create_tracker_store = staticmethod(_create_tracker_store)


def _is_session_start(event: Event) -> bool:
    return isinstance(event, ActionExecuted) and event.action_name == SESSION_START


def _event_key(event: dict) -> str:
    return json.dumps(event, sort_keys=True, ensure_ascii=False, default=str)
