"""Ctrl-C (SIGINT) in a one-shot ``kefu`` command: exit code 130, as the shell reports a command it stopped,
and a step that must not be cut in two (a row's change and the line naming it; an export put in place and its
audit record) finishes before the command stops."""
from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from typing import Iterator

INTERRUPTED = 130  # a command stopped by Ctrl-C (SIGINT): 128 + 2, as the shell reports one


@contextlib.contextmanager
def ctrl_c_between_rows() -> Iterator[threading.Event]:
    """Ctrl-C noted, not raised: the caller stops before its next row, so the row under way finishes (taken, or
    left as it was) and is said, never cut between its change and the line naming it. Left to Python where
    Ctrl-C is not its default (ignored in a background job; not the main thread)."""
    pressed = threading.Event()
    ours = (threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler)
    previous = signal.signal(signal.SIGINT, lambda _signum, _frame: pressed.set()) if ours else None
    try:
        yield pressed
    finally:
        if ours:
            signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def ends_at_once(said: str) -> Iterator[None]:
    """Ctrl-C says ``said`` and ends the process at once, exit code 130: while nothing is under way to finish or
    undo (Kefu loading its modules). A KeyboardInterrupt there was not dependable: raised in the import
    machinery's weakref callbacks it is printed ("Exception ignored in ... KeyboardInterrupt") and dropped, and a
    library's bare ``except:`` around an import swallows it; either way the command ran on. Left to Python where
    Ctrl-C is not its default (ignored in a background job; not the main thread)."""
    def end(_signum, _frame):
        try:
            sys.stdout.flush()
            print(said, file=sys.stderr, flush=True)
        finally:
            os._exit(INTERRUPTED)

    ours = (threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler)
    previous = signal.signal(signal.SIGINT, end) if ours else None
    try:
        yield
    finally:
        if ours:
            signal.signal(signal.SIGINT, previous)
