"""A folder of personal data written whole or not at all (``kefu customer export``): a Ctrl-C, a full disk or a
database error partway must not leave part of a customer's data behind, outside every record of it.

It is filled in a private folder beside the target, named after it (``<name>.partial-…``: one left by a power cut
still starts with the customer's export prefix, so their erasure finds and deletes it), and renamed into place
at the end. An empty folder given as the target (a mount point, say) is filled from a staging folder inside it.
"""
from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from bot.security.private_files import private_dir


class StagedFolder:
    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.into_existing = self.folder.is_dir()  # checked empty by the caller
        where = self.folder if self.into_existing else private_dir(self.folder.parent)
        prefix = ".partial-" if self.into_existing else f"{self.folder.name}.partial-"
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
