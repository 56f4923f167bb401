"""Files only Kefu's own user may read: the embedded database (agents' password hashes, customers,
the outbox with SMS codes), the servers' logs, the embedded Redis's data (trackers, codes, the
queue), voice messages and phone callers' clips kept on disk while the database could not take them
(they live in the database otherwise: ``bot/db/recordings.py``) and the speech cache (spoken replies
name customers' bills and tickets) and ``kefu report``/``kefu peak`` files (customers, agents'
handle times).

Created with owner-only modes from the start rather than fixed afterwards (found by a tester:
``var/kefu.sqlite3`` and ``var/logs`` were readable by every local user, ``var/secrets`` was not;
a later pass: ``var/redis``, ``var/voicemail``, ``var/caller_clips`` and ``var/tts-cache`` too;
a data-protection audit: ``var/reports``).
Every place that makes such a folder or file goes through this module, so there is one rule.
A file or folder that already exists keeps the mode its operator gave it.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO

FILE_MODE = 0o600
DIR_MODE = 0o700
PRIVATE_UMASK = 0o077  # for a child process that writes its own files (the embedded redis-server)


class CannotMake(OSError):
    """A folder or file Kefu needs cannot be made (a level of the folder is a file, it is not writable, on a
    read-only disk): one line naming it and why, which a ``kefu`` command prints as is, not a traceback."""

    def __init__(self, path: Path, message: str):
        super().__init__(message)
        self.path = Path(path)


def private_dir(path: Path) -> Path:
    """``path`` as a folder, every level of it Kefu makes now owner-only (``mkdir(parents=True)`` gives
    the missing parents the umask's mode, 0755 usually: ``var/`` itself was made so). Folders that exist
    already are left as they are: their owner chose their mode (see :func:`open_to_others`).
    Raises :class:`CannotMake` when it cannot be made."""
    path = Path(path)
    missing = []
    level = path
    while not level.is_dir() and level != level.parent:
        missing.append(level)
        level = level.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=DIR_MODE)
        except FileExistsError:  # another process made it a moment ago (or it is a file: raised below)
            pass
        except OSError as exc:
            why = _why_not_made(missing, f"{folder}: {exc.strerror or exc}")
            raise CannotMake(path, f"the folder {path} cannot be made: {why}") from exc
    if not path.is_dir():
        why = _why_not_made(missing, f"{path} exists and is not a folder")
        raise CannotMake(path, f"the folder {path} cannot be made: {why}")
    return path


def _why_not_made(missing: list[Path], otherwise: str) -> str:
    """The level in the way (a file, or a link to nothing) when there is one, else ``otherwise``."""
    for level in reversed(missing):  # outermost first
        if level.is_symlink() and not level.exists():
            return f"{level} is a link to something that does not exist"
        if level.exists() and not level.is_dir():
            return f"{level} is a file, not a folder"
    return otherwise


def open_to_others(path: Path) -> bool:
    """Whether a folder Kefu keeps private data in can be read or entered by users other than its owner
    (one an earlier version, or its operator, made 0755): ``kefu run`` says so, it never changes it."""
    try:
        return bool(Path(path).stat().st_mode & 0o077)
    except FileNotFoundError:
        return False


def open_private_log(path: Path) -> BinaryIO:
    """``path`` opened for appending, created readable by the owner only."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE), "ab")


def create_private_file(path: Path) -> None:
    """Create ``path`` empty and owner-only if it is missing (SQLite takes an empty file as a new
    database, and gives its journal and WAL files the database's mode)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE))
    except FileNotFoundError:
        pass  # no folder for it: SQLite reports that itself, with the path
    except OSError as exc:  # a folder Kefu may not write in, a read-only disk: SQLite would only say "unable to open"
        raise CannotMake(path, f"{path} cannot be made: {exc.strerror or exc}") from exc


def write_private_file(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (a reader never sees half a file) and owner-only, in a
    private folder made if missing. Blocking: run it in a thread from async code."""
    folder = private_dir(Path(path).parent)
    fd, partial = tempfile.mkstemp(dir=folder, prefix=f".{Path(path).name}.", suffix=".part")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(partial, path)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return Path(path)
