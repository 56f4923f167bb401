"""``kefu run``'s own output, also kept in ``<data dir>/logs/run.log`` (rotated like the other logs).

What the launcher says — why it cannot start, its banner, "Kefu's Rasa server died of …", "started
again", and the log lines of its own threads (outbox, contacts, model follower) — went to its console
only. Started under ``nohup … >/dev/null`` or by a supervisor that keeps no output, and once that
terminal or the launcher itself was gone (a SIGKILL), nobody could tell why a server had been
restarted. Now every line it prints is also a timestamped line of ``run.log``, written as it is
printed (nothing waits in a buffer for an exit that a SIGKILL never gives), and its log lines go there
in the format of the other logs. A :class:`SharedBoundedLog`: a second ``kefu run`` refused for a taken
port writes its reason into the same file.
"""
from __future__ import annotations

import contextlib
import logging
import sys
import threading
from typing import Iterator, TextIO

from bot.observability.log_files import SharedBoundedLog
from bot.observability.logging_setup import build_formatter
from bot.security.private_files import private_dir


class Tee:
    """A text stream (``sys.stdout``) that also hands each whole line it is given to ``log``."""

    def __init__(self, stream: TextIO, log: logging.Handler, level: int) -> None:
        self._stream, self._log, self._level = stream, log, level
        self._partial = ""
        self._lock = threading.Lock()  # the keeper and the workers' threads print too
        self._inside = threading.local()  # the log's own error note must not come back into the log

    def write(self, text: str) -> int:
        written = self._stream.write(text)
        if not getattr(self._inside, "writing", False):
            self._inside.writing = True
            try:
                with self._lock:
                    *lines, self._partial = (self._partial + text).split("\n")
                    for line in lines:
                        if line.strip():  # the banner's blank lines are for the console
                            self._log.handle(logging.makeLogRecord({
                                "name": "kefu.run", "msg": line, "levelno": self._level,
                                "levelname": logging.getLevelName(self._level)}))
            finally:
                self._inside.writing = False
        return written

    def __getattr__(self, name: str):  # flush, fileno, isatty, encoding ... of the console stream
        return getattr(self._stream, name)


@contextlib.contextmanager
def keep_run_log(settings) -> Iterator[SharedBoundedLog | None]:
    """While inside, what this process prints and logs is also written to ``run.log``."""
    try:
        log = SharedBoundedLog(private_dir(settings.data_dir / "logs") / "run.log", settings.log_max_bytes,
                               settings.log_backups)
    except OSError as exc:
        print(f"kefu: warning: its output is not kept in {settings.data_dir / 'logs' / 'run.log'}: {exc}",
              file=sys.stderr, flush=True)
        yield None
        return
    log.setFormatter(build_formatter(settings.log_format))
    root = logging.getLogger()
    root.addHandler(log)
    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = Tee(stdout, log, logging.INFO), Tee(stderr, log, logging.WARNING)
    try:
        yield log
    finally:
        sys.stdout, sys.stderr = stdout, stderr
        root.removeHandler(log)
        log.close()
