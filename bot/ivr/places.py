"""A process's call places, and how many of them calls nobody vouched for may hold.

Anyone can open ``/webhooks/ivr/media`` (the demo softphone does), so a stream the carrier did not
vouch for — no signed handshake, no ``kefuTrunkToken`` (:mod:`bot.ivr.twilio`) — may hold at most
``max_unvouched`` of the ``max_calls`` places: a client opening streams that send silence for 30
minutes cannot make the carrier's callers busy. A call is placed at its ``start`` (only then is a
trunk-token stream known as vouched). A vouched call that finds every place taken, some by
unvouched calls, takes the newest unvouched call's place at once: that call is ended (``end``), after a
short "line busy" (bot/ivr/session.py ``CallSession.end_with``).

Before its ``start`` a socket holds no place, but it does hold a file descriptor, a session and its
tasks for up to 10 s: :class:`Unstarted` caps how many sockets may wait for their start at once.
"""
from __future__ import annotations

from typing import Callable


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
    one until it is closed (``START_TIMEOUT_S``, bot/ivr/session.py)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.count = 0

    def enter(self) -> Callable[[], None] | None:
        """How to leave (at the socket's start or its end; again is harmless), or None: refused, all taken."""
        if self.count >= self.limit:
            return None
        self.count += 1
        left = False

        def leave() -> None:
            nonlocal left
            if not left:
                left = True
                self.count -= 1

        return leave
