"""Web chat messages acknowledged but not yet handled, kept in Redis until their turn is done.

The chat page stops resending a message once the server acknowledges it (``webchat_delivery``), and
the server acknowledges before the turn runs (a slow turn must not look like a lost connection). A
worker that died in between (OOM kill, SIGKILL, a crash) used to lose the message without a sign:
the page showed it sent, its resends were "duplicate", and no reply ever came.

So the message is recorded before the ack, in the same atomic step that takes it once (one script: the
delivery key, the entry, its lease): session id, client id, text and channel metadata, enough to run it
again. The lease (``LEASE_S``) holds the worker's id; a thread of the worker (``bot.renewing_thread``;
not the event loop, which a long turn or a busy model may stall for seconds) renews the leases of the
turns it runs every ``RENEW_EVERY_S``, and the worker removes the entry once Rasa has the turn. Every
worker looks every ``SWEEP_EVERY_S`` for entries without a lease, and takes over one still without it a
``confirm_s`` later — so a dead worker's message is answered some 6-8 s after its death (it waited 30-35
s while the lease was 30 s, renewed on the event loop). The second look is for a Redis that hung: the
leases lapse meanwhile, and the live worker's thread puts its own back (a renewal sets a lapsed lease
again) well before the second look. The take-over is ``SET NX``, so exactly one worker takes each entry,
and no global drain lock is needed (unlike ``actions/kept_requests``: entries here are independent) —
then runs the turn; the replies reach the session's Socket.IO room from whichever worker runs it.

A message that may hold an SMS code or the service password (any 6-digit run, or a code or password
given by name: ``bot.handoff.masking.proof_secrets`` as when proof is awaited) is not recorded: the
tracker store never writes such an answer in clear (``bot.security.secret_answers``), and neither may
this. It is taken once as before and, if its worker dies, lost as before — the customer, still asked
for the code, sends it again.

A message is run at most ``MAX_ATTEMPTS`` times: one whose turn kills every worker (or fails every
time) is then set aside under ``kefu:webchat:inflight:failed:<id>`` and logged, not retried by the fleet
forever; kept as long as conversations are (``KEFU_TRACKER_EXPIRY_SECONDS``: it holds the customer's words).
The worker that sets it aside tells the customer (the channel's ``tell`` callback: a notice into the
conversation's room, so whichever worker holds their page delivers it) — else the page showed the
message sent and nothing ever came. A page closed at that moment is told when it resumes the session
(:meth:`InFlight.set_aside_since`, by the ``seen_at`` it sends, as missed replies are): the session's
entry ids are kept in a set beside the entries (same TTL), so a resume reads its own few entries
rather than scanning the keyspace. A customer's erasure and export reach these entries
(``bot.privacy.webchat_set_aside``); that is why each keeps its session id and when it was set aside.

A turn Rasa stored already (its worker died, or lost Redis, between storing it and settling the entry)
is not run again: the message's entry id is its Rasa message id, and the worker taking it over looks
for it in the conversation first (``WebChatInput.turn_stored``).

Trade-off: a turn that had side effects before its worker died (an action that filed a ticket) runs
again, and so may do them twice; so does a live worker's turn whose lease lapsed anyway (the whole
process frozen, its renewing thread too, for the lease and the second look: stopped, or swapped out).
Woken, such a turn stores nothing and is not run again: its conversation lock was taken by the
take-over, so its save is refused (``bot.lock_store``'s fence), and the turn guard finds the message
stored under a fresh lock (``bot.observability.rasa_guards``). Its replies do not reach the page either:
each checks the lock before it is sent (``bot.lock_store.confirm_held``), and the first finds it taken.
The WeChat channel accepts the same for its retries: a message answered twice is better than one
silently lost.
"""
from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Awaitable, Callable, Optional

from redis.exceptions import RedisError

from bot.channels.guard import ChannelGuard
from bot.channels.webchat_delivery import DELIVERED_TTL_S, delivered_key
from bot.handoff.masking import AWAITING_PROOF, proof_secrets
from bot.renewing_thread import RenewingThread, client_from_url

logger = logging.getLogger(__name__)

PREFIX = "kefu:webchat"  # the web chat's ChannelGuard prefix: every key here is under it
SET_ASIDE_PREFIX = f"{PREFIX}:inflight:failed:"
SET_ASIDE_INDEX_PREFIX = f"{PREFIX}:inflight:failed_of:"  # + session id: a set of its set-aside entry ids
LEASE_S = 5.0  # a lease not renewed this long is lapsed: its worker died (or froze)
RENEW_EVERY_S = 1.0  # the renewing thread's round; a lapse is confirmed two rounds later
SWEEP_EVERY_S = 1.0
MAX_ATTEMPTS = 3  # runs of one message in all, the first included

# Take a message once (the delivery key, when it has a client id) and record it under a lease, atomically:
# a worker dying after this has acknowledged nothing or left an entry another worker finds.
_TAKE_AND_RECORD = """
if ARGV[1] == '1' and not redis.call('set', KEYS[1], '1', 'NX', 'EX', ARGV[2]) then return 0 end
if ARGV[6] == '1' then
  redis.call('set', KEYS[3], ARGV[7], 'PX', ARGV[3])
  redis.call('hset', KEYS[2], ARGV[4], ARGV[5])
end
return 1
"""

# Renew this worker's leases (KEYS[2..], of entries ARGV[3..]), setting again one that lapsed while Redis hung;
# an entry settled is left alone, and one another worker took over is counted (returned), not taken back.
_RENEW = """
local lost = 0
for i = 2, #KEYS do
  if redis.call('hexists', KEYS[1], ARGV[i + 1]) == 1 then
    local holder = redis.call('get', KEYS[i])
    if not holder or holder == ARGV[1] then redis.call('set', KEYS[i], ARGV[1], 'PX', ARGV[2])
    else lost = lost + 1 end
  end
end
return lost
"""


def may_hold_a_secret(text: str) -> bool:
    """Whether the message may answer a proof prompt: never kept in flight (see the module docstring)."""
    return bool(proof_secrets(text, AWAITING_PROOF))


@dataclass(frozen=True)
class Pending:
    """One acknowledged message: what its turn needs to run again on any worker."""

    session_id: str
    client_id: Optional[str]
    text: str
    metadata: dict = field(default_factory=dict)
    id: str = ""

    @classmethod
    def new(cls, session_id: str, client_id: Optional[str], text: str, metadata: dict) -> "Pending":
        return cls(session_id, client_id, text, metadata, f"{session_id}:{client_id or uuid.uuid4().hex}")

    @property
    def shown_id(self) -> str:
        """The id pages show the message by, live in other tabs and replayed to one resuming (its Rasa
        message id less the session): the page's client id, or the server's for a message sent without
        one (a third-party widget's), the same both ways so a page shows it once."""
        return self.id[len(self.session_id) + 1:]


class InFlight:
    """The in-flight entries of one channel (``guard``'s prefix), shared by every worker on its Redis."""

    def __init__(self, guard: ChannelGuard, lease_s: float = LEASE_S, sweep_every_s: float = SWEEP_EVERY_S,
                 max_attempts: int = MAX_ATTEMPTS, set_aside_s: int = 30 * 24 * 3600,
                 renew_every_s: Optional[float] = None) -> None:
        self.guard = guard
        self.set_aside_s = set_aside_s
        self.lease_s = lease_s
        self.renew_every_s = renew_every_s or lease_s * RENEW_EVERY_S / LEASE_S
        self.confirm_s = 2 * self.renew_every_s  # a live worker's thread renews within it once Redis answers
        self.sweep_every_s = sweep_every_s
        self.max_attempts = max_attempts
        self.entries_key = guard.key("inflight")
        self.attempts_key = guard.key("inflight:attempts")
        self.worker_id = uuid.uuid4().hex  # each lease says whose it is
        self._held: set[str] = set()  # entries whose turn runs here (the loop adds, the thread reads)
        self._held_lock = threading.Lock()
        self._renewer = RenewingThread("webchat in-flight leases", lambda: client_from_url(guard.redis_url),
                                       lambda client: self.renew_held(client), lambda: self.renew_every_s,
                                       "webchat.inflight.not_renewed")
        self._lapsed: dict[str, float] = {}  # entry id: when (monotonic) its lease was first seen lapsed

    @staticmethod
    def lease(entry_id: str) -> str:
        return f"inflight:lease:{entry_id}"  # under the guard's prefix, as claim/renew/forget take keys

    def failed_key(self, entry_id: str) -> str:
        return self.guard.key(f"inflight:failed:{entry_id}")

    def failed_index(self, session_id: str) -> str:
        return self.guard.key(f"inflight:failed_of:{session_id}")

    def keeps(self, pending: Pending) -> bool:
        """Whether :meth:`take` records ``pending`` in flight (a shared Redis, and no secret in it)."""
        return self.guard.client() is not None and not may_hold_a_secret(pending.text)

    async def take(self, pending: Pending) -> bool:
        """Take ``pending`` once and, if :meth:`keeps`, record it under this worker's lease; False for a
        resend already taken (not recorded).

        Raises ``RedisError``; without a shared Redis nothing is recorded (one process: nothing to share).
        """
        client = self.guard.client()
        if client is None:
            return True
        keep = self.keeps(pending)
        delivered = delivered_key(pending.session_id, pending.client_id) if pending.client_id else self.entries_key
        return bool(await client.eval(
            _TAKE_AND_RECORD, 3, delivered, self.entries_key, self.guard.key(self.lease(pending.id)),
            "1" if pending.client_id else "0", DELIVERED_TTL_S, self._lease_ms(), pending.id,
            json.dumps(asdict(pending), ensure_ascii=False) if keep else "", "1" if keep else "0",
            self.worker_id))

    def _lease_ms(self) -> int:
        return max(1, round(self.lease_s * 1000))

    def hold(self, entry_id: str) -> None:
        """The entry's turn runs here: this worker's thread renews its lease until :meth:`let_go`."""
        with self._held_lock:
            self._held.add(entry_id)
        self._renewer.start()

    def let_go(self, entry_id: str) -> None:
        """The entry's turn ended here (or failed: its lease lapses, and it is tried again)."""
        with self._held_lock:
            self._held.discard(entry_id)

    def stop(self) -> None:
        """Stop renewing (the worker stops; its turns were cancelled and let their entries go)."""
        self._renewer.stop()

    def renew_held(self, client) -> None:
        """Renew the leases of the turns running here, in one round trip (``client``: a synchronous one)."""
        with self._held_lock:
            held = sorted(self._held)
        if not held:
            return
        keys = [self.guard.key(self.lease(entry_id)) for entry_id in held]
        lost = client.eval(_RENEW, 1 + len(keys), self.entries_key, *keys, self.worker_id, self._lease_ms(), *held)
        if lost:
            logger.warning("webchat.inflight.taken_from_here entries=%d", lost)

    async def done(self, entry_id: str) -> None:
        """The turn is stored (or the message refused): nobody runs it again."""
        client = self.guard.client()
        if client is None:
            return
        async with client.pipeline(transaction=True) as pipe:
            pipe.hdel(self.entries_key, entry_id)
            pipe.hdel(self.attempts_key, entry_id)
            pipe.delete(self.guard.key(self.lease(entry_id)))
            await pipe.execute()

    async def take_over(self) -> tuple[list[Pending], list[tuple[Pending, float]]]:
        """Claim the entries whose worker stopped renewing them: those still within their attempts are
        this worker's to run (under its lease, to :meth:`hold` and settle with :meth:`done`), the others
        are set aside here and returned second (with when), for their customers to be told."""
        client = self.guard.client()
        if client is None:
            return [], []
        taken: list[Pending] = []
        set_aside: list[tuple[Pending, float]] = []
        for entry_id in await self._lapsed_twice(client):
            lease = self.guard.key(self.lease(entry_id))
            if not await client.set(lease, self.worker_id, nx=True, px=self._lease_ms()):
                continue  # its worker renewed it after all, or another one took it over first
            self._lapsed.pop(entry_id, None)
            raw = await client.hget(self.entries_key, entry_id)
            if raw is None:  # done between the listing and the claim
                await self.guard.forget(self.lease(entry_id))
                continue
            pending = Pending(**json.loads(raw))
            attempt = int(await client.hincrby(self.attempts_key, entry_id, 1)) + 1
            if attempt > self.max_attempts:
                set_aside.append((pending, await self.set_aside(pending, attempt - 1)))
                continue
            logger.warning("webchat.inflight.taken_over session=%s attempt=%d", pending.session_id, attempt)
            taken.append(pending)
        return taken, set_aside

    async def _lapsed_twice(self, client) -> list[str]:
        """The entries whose lease was lapsed at an earlier look ``confirm_s`` ago and still is.

        One look is not enough: while Redis hung every lease lapsed, and a live worker's thread sets its
        own again within a round once Redis answers. Forgotten when a look fails (``forget_lapsed``)."""
        entry_ids = await client.hkeys(self.entries_key)
        async with client.pipeline(transaction=False) as pipe:
            for entry_id in entry_ids:
                pipe.exists(self.guard.key(self.lease(entry_id)))
            leased = await pipe.execute() if entry_ids else []
        now = time.monotonic()
        self._lapsed = {entry_id: self._lapsed.get(entry_id, now)
                        for entry_id, held in zip(entry_ids, leased) if not held}
        return [entry_id for entry_id, since in self._lapsed.items() if now - since >= self.confirm_s]

    def forget_lapsed(self) -> None:
        """Redis did not answer a look: what it showed before says nothing about the leases now."""
        self._lapsed = {}

    async def set_aside(self, pending: Pending, attempts: int) -> float:
        """Keep ``pending`` for an operator instead of running it again; when (epoch seconds)."""
        client = self.guard.client()
        at = time.time()
        entry = {**asdict(pending), "attempts": attempts, "set_aside_at": at}
        async with client.pipeline(transaction=True) as pipe:
            pipe.set(self.failed_key(pending.id), json.dumps(entry, ensure_ascii=False), ex=self.set_aside_s)
            pipe.sadd(self.failed_index(pending.session_id), pending.id)
            pipe.expire(self.failed_index(pending.session_id), self.set_aside_s)
            pipe.hdel(self.entries_key, pending.id)
            pipe.hdel(self.attempts_key, pending.id)
            pipe.delete(self.guard.key(self.lease(pending.id)))
            await pipe.execute()
        logger.error("webchat.inflight.set_aside session=%s attempts=%d key=%s", pending.session_id, attempts,
                     self.failed_key(pending.id))
        return at

    async def set_aside_since(self, session_id: str, since: float) -> list[tuple[Pending, float]]:
        """The session's messages set aside after ``since`` (a resumed page's ``seen_at``), oldest first,
        each with when."""
        client = self.guard.client()
        if client is None:
            return []
        ids = sorted(await client.smembers(self.failed_index(session_id)))
        if not ids:
            return []
        found = []
        for raw in await client.mget([self.failed_key(entry_id) for entry_id in ids]):
            if raw is None:  # expired (the set's TTL is renewed by each newer entry), or erased
                continue
            entry = json.loads(raw)
            at = float(entry.pop("set_aside_at", 0) or 0)
            entry.pop("attempts", None)
            if at > since:
                found.append((Pending(**entry), at))
        return sorted(found, key=lambda item: item[1])

    async def sweep_forever(self, run: Callable[[Pending], Awaitable[None]],
                            tell: Callable[[Pending, float], Awaitable[None]]) -> None:
        """Background task of each worker: take over lapsed entries every ``sweep_every_s`` and ``run``
        them; ``tell`` the customer of each message set aside."""
        if self.guard.client() is None:
            return
        while True:
            await asyncio.sleep(self.sweep_every_s)
            try:
                taken, set_aside = await self.take_over()
                for pending in taken:  # renewed from the claim on: ``run`` reads the conversation first
                    self.hold(pending.id)
                for pending in taken:
                    try:
                        await run(pending)
                    except Exception:  # noqa: BLE001 - logged; its lease lapses and it is tried again
                        logger.exception("webchat.inflight.not_run session=%s", pending.session_id)
                    finally:
                        self.let_go(pending.id)  # the turn ``run`` started holds it itself, from its first step
                for pending, at in set_aside:
                    await self._tell_customer(tell, pending, at)
            except RedisError as error:
                self.forget_lapsed()
                logger.warning("webchat.inflight.unreachable error=%s", type(error).__name__)
            except Exception:  # noqa: BLE001 - the task lives on: a dead one would take nothing over again
                logger.exception("webchat.inflight.sweep_failed")

    @staticmethod
    async def _tell_customer(tell: Callable[[Pending, float], Awaitable[None]], pending: Pending, at: float) -> None:
        """``tell`` the customer their message is set aside; a failure is logged with the conversation, and
        the next customer is told anyway (the entry stays set aside: nothing is lost but the notice)."""
        try:
            await tell(pending, at)
        except Exception:  # noqa: BLE001 - the traceback is logged with the conversation id
            logger.exception("webchat.inflight.not_told session=%s", pending.session_id)
            return
        logger.info("webchat.inflight.told session=%s", pending.session_id)
