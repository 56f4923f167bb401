"""The servers' log files (``var/logs/rasa.log``, ``actions.log``), bounded in size.

The Rasa and action servers wrote straight into their log file, which grew until it filled the disk
on a busy day. Now a server writes into a pipe; a thread of ``kefu run`` reads it and writes the lines
through the standard library's :class:`~logging.handlers.RotatingFileHandler`: when the file would
pass ``KEFU_LOG_MAX_MB`` it becomes ``rasa.log.1`` (``.1`` -> ``.2`` ... up to ``KEFU_LOG_BACKUPS``,
the oldest dropped) and a new ``rasa.log`` holds the newest lines. The thread drains the pipe whatever
happens to the file (a full disk, a failed rename), so a server never blocks on its log nor dies of it.

The embedded Redis's ``redis.log`` goes the same way (bot/embedded_redis.py). ``cli.log``, written by
every ``kefu`` command at once, is a :class:`SharedBoundedLog`: the same rotation, one process at a time.
"""
from __future__ import annotations

import fcntl
import logging
import logging.handlers
import os
import sys
import threading
from pathlib import Path

from bot.security.private_files import open_private_log

CHUNK = 64 * 1024  # longest piece read as one line: a line without an end cannot hold the launcher's memory


class LogStart(int):
    """Where a log ended when its server started (an offset, as before) and which file that was, so
    the lines written since are still found after the file was rotated (:func:`lines_since`)."""

    inode: int | None = None

    def __new__(cls, offset: int, inode: int | None = None) -> "LogStart":
        mark = super().__new__(cls, offset)
        mark.inode = inode
        return mark


class BoundedLog(logging.handlers.RotatingFileHandler):
    """One log file of at most ``max_bytes`` (0: no limit) plus ``backups`` older ones; owner-only."""

    def __init__(self, path: Path, max_bytes: int, backups: int) -> None:
        self.reported = False
        super().__init__(path, mode="a", maxBytes=max_bytes, backupCount=max(backups, 1) if max_bytes else 0,
                         encoding="utf-8")
        self.terminator = ""  # lines keep their own ends

    def _open(self):
        import io

        return io.TextIOWrapper(open_private_log(Path(self.baseFilename)), encoding="utf-8", errors="replace",
                                write_through=True)

    def shouldRollover(self, record) -> bool:
        """In bytes (the stdlib counts characters: Chinese text would pass the limit), and never for an
        empty file (a rotation would only push out a kept one)."""
        if not self.maxBytes:
            return False
        if self.stream is None:
            self.stream = self._open()
        size = self.stream.seek(0, os.SEEK_END)
        line = self.format(record) + self.terminator
        return size > 0 and size + len(line.encode("utf-8", errors="replace")) > self.maxBytes

    def handleError(self, record) -> None:
        """Said once on the launcher's stderr (a full disk would otherwise print a traceback a line)."""
        if not self.reported:
            self.reported = True
            print(f"kefu: cannot write {self.baseFilename}: {sys.exc_info()[1]}; its lines are dropped "
                  "until it can", file=sys.stderr, flush=True)

    def write(self, text: str) -> None:
        self.handle(logging.makeLogRecord({"msg": text, "levelno": logging.INFO}))

    def start(self) -> LogStart:
        """Where the file ends now (see :class:`LogStart`)."""
        with self.lock:
            if self.stream is None:
                self.stream = self._open()
            offset = self.stream.seek(0, os.SEEK_END)
        try:
            inode = os.stat(self.baseFilename).st_ino
        except OSError:
            inode = None
        return LogStart(offset, inode)


class SharedBoundedLog(BoundedLog):
    """A :class:`BoundedLog` that several processes write at once: ``cli.log``, appended to by every
    ``kefu`` command. The stdlib's rotation assumes one writer: two processes each rename the file under
    the other, and one goes on writing into ``cli.log.1`` past any limit. Here a line is written holding
    an exclusive ``flock`` on ``.cli.log.lock`` beside it (a file never renamed), after reopening
    ``cli.log`` if another process rotated it meanwhile: lines stay whole and in order, and the bound
    holds. A process killed while holding the lock releases it with its descriptors."""

    def __init__(self, path: Path, max_bytes: int, backups: int) -> None:
        self.lock_path = Path(path).with_name(f".{Path(path).name}.lock")
        self._lock_file = None  # opened at the first line
        super().__init__(path, max_bytes, backups)
        self.terminator = "\n"  # a logging handler's records, not a server's lines

    def emit(self, record) -> None:
        try:
            if self._lock_file is None:
                self._lock_file = open_private_log(self.lock_path)  # empty: only locked, never written
            fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_EX)
        except OSError:
            self.handleError(record)
            return
        try:
            self._follow_rotation()
            super().emit(record)
        finally:
            fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_UN)

    def _follow_rotation(self) -> None:
        """Drop a stream whose file another process renamed (or deleted): the next write opens the current one."""
        if self.stream is None:
            return
        try:
            now = os.stat(self.baseFilename)
            mine = os.fstat(self.stream.fileno())
            if (now.st_ino, now.st_dev) == (mine.st_ino, mine.st_dev):
                return
        except OSError:
            pass
        stream, self.stream = self.stream, None
        try:
            stream.close()
        except OSError:
            pass

    def close(self) -> None:
        with self.lock:
            if self._lock_file is not None:
                self._lock_file.close()
                self._lock_file = None
        super().close()


def pump(pipe, log: BoundedLog) -> None:
    """Copy a server's output to its log until the server (and every worker holding the pipe) ends."""
    try:
        for chunk in iter(lambda: pipe.readline(CHUNK), b""):
            try:
                log.write(chunk.decode("utf-8", errors="replace"))
            except Exception:  # noqa: BLE001 - never stop draining: a full pipe would block the server
                pass
    finally:
        pipe.close()


def start_pump(pipe, log: BoundedLog) -> threading.Thread:
    thread = threading.Thread(target=pump, args=(pipe, log), name=f"log {Path(log.baseFilename).name}", daemon=True)
    thread.start()
    return thread


def settle(process, timeout: float = 3.0) -> None:
    """Wait (a little) until what an ended server wrote is in its log, before reading why it ended."""
    thread = getattr(process, "log_pump", None)
    if thread is not None:
        thread.join(timeout)


def lines_since(log_file: Path, since: int, most: int = 1 << 20) -> bytes:
    """The last ``most`` bytes written to ``log_file`` after ``since`` (an offset or a :class:`LogStart`),
    the part already rotated into ``log_file.1`` ... included when the file was rotated since then."""
    inode = getattr(since, "inode", None)
    parts: list[bytes] = []
    for number in range(0, 100):
        path = Path(log_file) if number == 0 else Path(f"{log_file}.{number}")
        try:
            with open(path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                is_start = inode is None or os.fstat(handle.fileno()).st_ino == inode
                begin = min(since, size) if is_start else 0
                handle.seek(max(begin, size - most))
                parts.append(handle.read())
        except FileNotFoundError:
            if number == 0:
                raise
            break  # the start's file was dropped already: all that is left was written since
        most -= len(parts[-1])
        if is_start or most <= 0:
            break
    return b"".join(reversed(parts))
