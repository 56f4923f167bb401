"""Free space on Kefu's data folder, where logs, metrics, published models, voicemail, caller clips and
the TTS cache live.

Found by an SRE tester: with the data folder full, log lines were dropped without a word, ``/health``
stayed ``ok``, and after a crash every start of the Rasa server died of SIGBUS — prometheus-client
``truncate``s its multiprocess files to their size without reserving the space, then writes through
``mmap``, and a page that cannot be allocated kills the process. So free space is a ``/health`` check
(degraded below ``KEFU_DATA_DIR_MIN_FREE_MB``), a metric, and something ``kefu run`` checks before it
starts a server; below :data:`START_MIN_FREE_BYTES` it does not start one at all.
"""
from __future__ import annotations

import shutil
from pathlib import Path

MIB = 1024 * 1024
# Below this, starting a server only crashes it (metric files, logs, SQLite journal need room).
START_MIN_FREE_BYTES = 16 * MIB


def free_bytes(folder: Path) -> int | None:
    """Bytes free to this user on the filesystem holding ``folder`` (or its nearest existing parent,
    before a first run made it); None when it cannot be read."""
    path = Path(folder)
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def describe(folder: Path, free: int | None) -> str:
    """``the data folder /x has 0 bytes (0 MB) free`` — what an operator needs to act on."""
    if free is None:
        return f"the free space of the data folder {folder} could not be read"
    return f"the data folder {folder} has {free} bytes ({free // MIB} MB) free"


def too_full_to_start(folder: Path) -> str | None:
    """Why no server should be started on ``folder`` now, or None when there is room."""
    free = free_bytes(folder)
    if free is not None and free < START_MIN_FREE_BYTES:
        return (f"{describe(folder, free)}; a server needs at least {START_MIN_FREE_BYTES // MIB} MB there "
                "(free some space: old logs, tts-cache, caller_clips)")
    return None
