"""Files only Kefu's own user may read: the embedded database (agents' password hashes, customers,
the outbox with SMS codes) and the servers' logs.

Created with owner-only modes from the start rather than fixed afterwards (found by a tester:
``var/kefu.sqlite3`` and ``var/logs`` were readable by every local user, ``var/secrets`` was not).
A file or folder that already exists keeps the mode its operator gave it.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    return path


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
