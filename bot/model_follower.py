"""``kefu run`` follows the published model, so a publish from any machine reaches this one's Rasa server.

``kefu train`` used to hot-swap into one server only; the other machines kept the old model until
someone copied the file and ran ``kefu train`` on each. Now every ``FOLLOW_INTERVAL_S`` a thread of
``kefu run`` asks the shared database for the newest publication (one indexed row: cheap when nothing
changed). For one this machine has not applied yet it gets the model as a file here (fetched and
checksum-checked, :mod:`bot.published_model`), makes it the model the Keeper starts the Rasa server
with should that server stop (``stack.model``), and hot-swaps it into every worker
(:func:`bot.editor.publish.hot_swap`, under this machine's swap lock, so a ``kefu train`` here does not
load it a second time). A failure — database unreachable, checksum mismatch, a server that refuses the
model or is being started again — is logged with its reason and tried again after a back-off; the
instance keeps serving what it serves and never stops because of it.
"""
from __future__ import annotations

import logging
import threading
import time

from bot.editor.publish import hot_swap, swap_lock
from bot.published_model import local_file, open_store, prune_fetched
from bot.workers import worker_count

log = logging.getLogger(__name__)

FOLLOW_INTERVAL_S = 5.0
RETRY_FIRST_S = 30.0
RETRY_MAX_S = 600.0


class Follower:
    """One step at a time (:meth:`step`), so the loop and the tests drive the same code."""

    def __init__(self, settings, stack, token: str, applied: int | None = None, swap=hot_swap) -> None:
        self.settings = settings
        self.stack = stack
        self.token = token
        self.applied = applied  # id of the publication this machine serves
        self.swap = swap
        self.failures = 0
        self.retry_at = 0.0

    def step(self, now: float | None = None) -> bool:
        """Apply a newer publication if there is one and no back-off is running; True when one was applied."""
        now = time.monotonic() if now is None else now
        if now < self.retry_at:
            return False
        publication = None
        try:
            publication = open_store(self.settings).current()
            if publication is None or publication.id == self.applied:
                return False
            path = local_file(self.settings, publication)
            self.stack.model = path  # what the Keeper starts a stopped Rasa server with, from now on
            with swap_lock(self.settings):
                self.swap(self.settings.rasa_url, path, token=self.token, workers=worker_count(self.settings.env))
        except Exception as exc:  # noqa: BLE001 - whatever went wrong, this instance serves on and tries again
            self.failures += 1
            delay = min(RETRY_FIRST_S * 2 ** (self.failures - 1), RETRY_MAX_S)
            self.retry_at = now + delay
            log.warning("model.follow_failed name=%s error=%s: %s retry_in=%.0fs",
                        publication.name if publication else "-", type(exc).__name__, exc, delay)
            return False
        self.applied, self.failures, self.retry_at = publication.id, 0, 0.0
        log.info("model.followed name=%s sha256=%s by=%s", publication.name, publication.sha256[:12],
                 publication.published_by)
        prune_fetched(self.settings, path)
        return True


def follow_forever(follower: Follower, stop: threading.Event, interval_s: float = FOLLOW_INTERVAL_S) -> None:
    """Thread body for ``kefu run`` (like the outbox's)."""
    while not stop.wait(interval_s):
        follower.step()
