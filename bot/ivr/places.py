"""A process's call places, and how many of them calls nobody vouched for may hold.

Anyone can open ``/webhooks/ivr/media`` (the demo softphone does), so a stream the carrier did not
vouch for — no signed handshake, no ``kefuTrunkToken`` (:mod:`bot.ivr.twilio`) — may hold at most
``max_unvouched`` of the ``max_calls`` places: a client opening streams that send silence for 30
minutes cannot make the carrier's callers busy. A call is placed at its ``start`` (only then is a
trunk-token stream known as vouched). A vouched call that finds every place taken, some by
unvouched calls, takes the newest unvouched call's place at once: that call is ended (``end``), after a
short "line busy" (bot/ivr/session.py ``CallSession.end_with``).
How many unvouched calls one client address may start a minute (:func:`unvouched_starts_key`) and hold at
once (leases in Redis, ``IvrInput.addresses``) is counted for every process, in bot/channels/ivr.py.

Before its ``start`` a socket holds no place, but it does hold a file descriptor, a session and its
tasks for up to 10 s: :class:`Unstarted` caps how many sockets may wait for their start at once, the
newest taking the place of the one that has waited longest.
"""
from __future__ import annotations

import hashlib
from typing import Callable

UNVOUCHED_STARTS_WINDOW_S = 60


def unvouched_starts_key(client: str) -> str:
    """The Redis budget (``bot.rate_window``) of the streams nobody vouched for that one client address
    started in the last minute, for every process: the share of places caps how many such calls run at
    once, not how many one client starts (each runs a flow and leaves its id in Redis for a week)."""
    return f"kefu:ivr:unvouched_starts:{hashlib.sha256(client.encode()).hexdigest()[:24]}"


class Place:
    """One call's place; ``release`` it when the call ends (again is harmless)."""

    def __init__(self, places: "CallPlaces", vouched: bool, end: Callable[[], None]) -> None:
        self._places = places
        self.vouched = vouched
        self.end = end
        self.held = True

    def release(self) -> None:
        if self.held:
            self.held = False
            self._places._free(self)


class CallPlaces:
    def __init__(self, max_calls: int, max_unvouched: int) -> None:
        self.max_calls = max_calls
        self.max_unvouched = max_unvouched
        self.vouched = 0
        self._unvouched: list[Place] = []  # oldest first

    @property
    def unvouched(self) -> int:
        return len(self._unvouched)

    @property
    def taken(self) -> int:
        return self.vouched + len(self._unvouched)

    def take(self, vouched: bool, end: Callable[[], None]) -> Place | None:
        """This call's place, or None: it is refused. A vouched call may first end an unvouched one."""
        if not vouched:
            if self.unvouched >= self.max_unvouched or self.taken >= self.max_calls:
                return None
            place = Place(self, False, end)
            self._unvouched.append(place)
            return place
        if self.taken >= self.max_calls:
            if not self._unvouched:
                return None
            newest = self._unvouched[-1]
            newest.release()
            newest.end()
        self.vouched += 1
        return Place(self, True, end)

    def _free(self, place: Place) -> None:
        if place.vouched:
            self.vouched -= 1
        else:
            self._unvouched.remove(place)


class Unstarted:
    """Sockets open with no ``start`` yet: at most ``limit`` at once. A carrier sends its start right
    after connecting, so a carrier's calls hold these for milliseconds; a socket that sends nothing holds
    one until it is closed (``START_TIMEOUT_S``, bot/ivr/session.py). When all are taken, a new socket takes
    the place of the one that has waited longest, which is closed: a trunk's ``kefuTrunkToken`` is only read
    at its start, so refusing new sockets instead let a flood of sockets that send nothing turn every trunk
    call away; this way a flood only closes its own sockets, unless it opens ``limit`` of them in the
    moment between a carrier's connecting and its start."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._waiting: dict[int, Callable[[], None]] = {}  # how to close each socket, the oldest first
        self._entered = 0

    @property
    def count(self) -> int:
        return len(self._waiting)

    def enter(self, close: Callable[[], None]) -> Callable[[], None]:
        """How to leave (at the socket's start or its end; again is harmless). All taken: the socket that
        has waited longest is closed (``close`` as it gave it) and leaves."""
        if len(self._waiting) >= self.limit:
            self._waiting.pop(next(iter(self._waiting)))()
        self._entered += 1
        key = self._entered
        self._waiting[key] = close

        def leave() -> None:
            self._waiting.pop(key, None)

        return leave
