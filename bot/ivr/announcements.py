"""Spacing of the announcements a caller waiting for an agent hears.

Found by a phone tester: while the queue moved, the waiting room's notices (place, estimated
wait, agents back) and the hold reminder reached the caller back to back — five in 35 s — because
each one was spoken the moment it arrived. A waiting caller should hear hold audio (or silence)
between announcements, so playback keeps a paced announcement (``Say.paced``) until at least
``hold.announcement_gap_s`` (``content/ivr.yml``) has passed since the previous announcement to
the waiting caller ended; a newer one of the same kind replaces one still held back (the caller
hears their current place, not every place they passed through). Prompts that answer the caller
(or an agent's words) are never held back.

The clock is injectable so the rule can be checked without waiting for it.
"""
from __future__ import annotations

import time
from typing import Callable


class AnnouncementSpacing:
    """When the last announcement ended, and how long the next paced one must still wait."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.gap_s = 0.0  # 0: the caller is not waiting for an agent, nothing is held back
        self._ended_at: float | None = None

    def ended(self) -> None:
        """An announcement to the waiting caller has just finished playing (or was cut off)."""
        self._ended_at = self.clock()

    def wait_s(self) -> float:
        """Seconds before a paced announcement may start (0.0: now)."""
        if self.gap_s <= 0 or self._ended_at is None:
            return 0.0
        return max(0.0, self._ended_at + self.gap_s - self.clock())
