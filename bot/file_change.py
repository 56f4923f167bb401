"""Whether an editor's file changed since Kefu last looked: its stat when that can be trusted, else its content.

A stat alone misses an edit that keeps the size and lands in the same timestamp tick as the version
read before it (a fast save, a filesystem with 1- or 2-second timestamps), or whose modification time
a tool puts back (``cp -p``, ``touch -r``, some ``git checkout`` setups): the bot served the old text
until the next save. So the stamp holds the change time and inode too (a tool can set the
modification time, not the change time; a save by rename is a new inode), and, as Git does for
"racily clean" index entries (Documentation/technical/racy-git.txt), a stamp taken while the file's
timestamps were still within :data:`RACY_WINDOW_NS` of the clock is not trusted: the content's hash is
compared on each look until the file is older than that. An unchanged, settled file costs one ``stat``;
a file saved in the last two seconds costs a read and a hash.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

Stamp = tuple[int, int, int, int]  # (mtime_ns, ctime_ns, size, inode)
MISSING: Stamp = (-1, -1, -1, -1)  # the file is not there (moved away, deleted, or between a tool's delete and write)
RACY_WINDOW_NS = 2_000_000_000  # FAT keeps 2-second timestamps; ext3 and HFS+ 1-second ones


@dataclass(frozen=True)
class Seen:
    """The file as last looked at: its stamp, its content's hash, and whether the stamp can be trusted."""
    stamp: Stamp
    digest: bytes | None
    settled: bool


def stamp(path: Path) -> Stamp:
    try:
        status = Path(path).stat()
    except FileNotFoundError:
        return MISSING
    return status.st_mtime_ns, status.st_ctime_ns, status.st_size, status.st_ino


def look(path: Path, seen: Seen | None) -> tuple[Seen, bool]:
    """(the file now, whether its content differs from ``seen``'s); ``seen`` None: never looked at."""
    now = time.time_ns()  # before the stat: a write after it is stamped at least this late
    current = stamp(path)
    if seen is not None and seen.settled and current == seen.stamp:
        return seen, False
    digest = None
    if current != MISSING:
        try:
            digest = hashlib.sha256(Path(path).read_bytes()).digest()
        except FileNotFoundError:
            current = MISSING
    settled = current == MISSING or now - max(current[0], current[1]) > RACY_WINDOW_NS
    return Seen(current, digest, settled), seen is None or digest != seen.digest
