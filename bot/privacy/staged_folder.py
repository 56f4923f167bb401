"""A folder of personal data written whole or not at all (``kefu customer export``): a Ctrl-C, a full disk or a
database error partway must not leave part of a customer's data behind, outside every record of it.

It is filled in a private folder beside the target, named after it (``<name>.partial-…``: one left by a power cut
still starts with the customer's export prefix, so their erasure finds and deletes it), and renamed into place
at the end. An empty folder given as the target (a mount point, say) is filled from a staging folder inside it.
One left by a power cut or a killed command is deleted by ``kefu run``'s tidy pass (:func:`remove_abandoned`)
once nothing in it has changed for ``ABANDONED_AFTER_S``.
"""
from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Iterator

from bot.security.private_files import private_dir
from bot.training import STALE_PARTIAL_S

STAGING_MARK = ".partial-"
# The age after which a training's half-written archive is taken for a killed one's: an export is written in
# seconds, so one untouched this long is no running command's. Were one removed from under it all the same, the
# export would fail ("nothing was exported", nothing recorded): its next file or its rename finds no folder.
ABANDONED_AFTER_S = STALE_PARTIAL_S

logger = logging.getLogger(__name__)


class StagedFolder:
    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.into_existing = self.folder.is_dir()  # checked empty by the caller
        where = self.folder if self.into_existing else private_dir(self.folder.parent)
        prefix = STAGING_MARK if self.into_existing else f"{self.folder.name}{STAGING_MARK}"
        self.staging = Path(tempfile.mkdtemp(dir=where, prefix=prefix))  # mode 0700
        self.placed = False
        self.left_behind: Path | None = None  # what could not be removed after a failure

    def put_in_place(self) -> None:
        if self.into_existing:
            for entry in sorted(self.staging.iterdir()):
                entry.rename(self.folder / entry.name)
            self.staging.rmdir()
        else:
            self.staging.rename(self.folder)
        self.placed = True

    def remove(self) -> None:
        """Everything written so far; what cannot be removed is kept in ``left_behind`` to be said."""
        if self.into_existing:
            for entry in list(self.folder.iterdir()) if self.folder.is_dir() else []:
                _remove(entry)
            gone = not any(self.folder.iterdir()) if self.folder.is_dir() else True
            self.left_behind = None if gone else self.folder
            return
        for path in (self.staging, self.folder if self.placed else None):
            if path is not None and path.exists():
                _remove(path)
                if path.exists():
                    self.left_behind = path


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def staged_folder(folder: Path) -> Iterator[StagedFolder]:
    """Yields the folder to fill (``.staging``); the block calls ``put_in_place()`` once it is whole. When
    anything is raised (KeyboardInterrupt too), before or after that, everything written is removed."""
    staged = StagedFolder(folder)
    try:
        yield staged
    except BaseException:
        staged.remove()
        raise
    if not staged.placed:  # the block ended without putting it in place: nothing is kept
        staged.remove()


def remove_abandoned(parent: Path, now: float | None = None) -> int:
    """Delete the staging folders in ``parent`` (and in the empty targets in it) nothing in which has changed
    for ``ABANDONED_AFTER_S``: left by a power cut or a kill -9, which no ``finally`` removes; how many."""
    cutoff = (time.time() if now is None else now) - ABANDONED_AFTER_S
    parent = Path(parent)
    removed = 0
    for staging in [*parent.glob(f"*{STAGING_MARK}*"), *parent.glob(f"*/{STAGING_MARK}*")]:
        try:
            if not staging.is_dir() or staging.is_symlink() or _last_change(staging) > cutoff:
                continue
            shutil.rmtree(staging)
            removed += 1
        except FileNotFoundError:  # removed meanwhile (put in place, or by an erasure)
            continue
        except OSError as exc:  # written by another user, say: said, and tried again at the next pass
            logger.warning("privacy.staged_folder.not_removed folder=%s error=%s", staging.name, exc)
    if removed:
        logger.info("privacy.staged_folder.abandoned_removed count=%d", removed)
    return removed


def _last_change(folder: Path) -> float:
    """The newest modification time of the folder and of everything in it."""
    newest = folder.stat().st_mtime
    for where, _folders, files in os.walk(folder):
        for path in [where, *(os.path.join(where, name) for name in files)]:
            try:
                newest = max(newest, os.lstat(path).st_mtime)
            except FileNotFoundError:
                pass
    return newest
