"""A process vouches for the calls it holds while they wait for an agent, so a dead process's calls are not.

A call lives in the process whose WebSocket the carrier connected to. If that process dies (killed, out
of memory, its machine lost) the caller's line goes with it, but the call's queue entry said "waiting"
until ``max_wait_s``: agents claimed dead calls, and the queue's figures and waits counted them (found in
review). So the process writes the time into the queue record of each call it holds that waits or is with
an agent (``bot.handoff.presence.HELD_AT_FIELD``) every ``RENEW_S``, and the queue writes it as the call joins (or
joins again: the assistant's handoff, a transfer, a return from an agent who left); a call not
vouched for in ``PAGE_SILENT_S`` is gone: passed over by the claim, counted apart, and seen out of the
queue by the waiting room (``call_lost``).

The renewal runs on a thread of its own (``bot.renewing_thread``): a process whose event loop is held up
(a long turn, a slow model) still vouches for its calls, and only a dead one stops. ``PAGE_SILENT_S`` is
three renewals, so a Redis that fails one or two of them drops nobody.
"""
from __future__ import annotations

import threading
import time
from typing import Callable, Iterable

from bot.handoff import keys
from bot.handoff.presence import PAGE_SILENT_S, VOUCH_LUA
from bot.renewing_thread import RenewingThread, client_like

RENEW_S = PAGE_SILENT_S / 3

# KEYS: the calls' queue records; ARGV: now. Only a call on the line, waiting or with an agent, is vouched
# for (bot.handoff.presence.VOUCH_LUA): a record that expired or ended is not written back, and a booked
# callback queued under the call's conversation is not this line's.
_VOUCH = VOUCH_LUA + """
for _, key in ipairs(KEYS) do vouch(key, ARGV[1]) end
return 0
"""


def vouch(client, conversation_ids: Iterable[str], now: float):
    """Vouch for the calls of ``conversation_ids`` that wait or are with an agent (an asyncio client's call
    returns its awaitable)."""
    records = [keys.conversation(conversation_id) for conversation_id in conversation_ids]
    return client.eval(_VOUCH, len(records), *records, repr(now))


class HeldCalls:
    """The calls one process holds, by conversation id (``hold`` at the start, ``let_go`` at the end),
    vouched for by a thread (``bot.ivr.line.CallLines`` keeps it)."""

    def __init__(self, redis, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._calls: set[str] = set()
        self._lock = threading.Lock()  # the loop adds and removes, the thread reads
        self._thread = RenewingThread("ivr held calls", lambda: client_like(redis), self.renew, lambda: RENEW_S,
                                      "ivr.held_calls.renew_failed", retry_s=1.0)

    def hold(self, conversation_id: str) -> None:
        with self._lock:
            self._calls.add(conversation_id)

    def let_go(self, conversation_id: str) -> None:
        with self._lock:
            self._calls.discard(conversation_id)

    def renew(self, client) -> None:
        """One round, on a synchronous client: vouch for every call held now."""
        with self._lock:
            calls = list(self._calls)
        if calls:
            vouch(client, calls, self.clock())

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._thread.stop()
