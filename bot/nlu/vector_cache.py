"""E5 vectors of training examples, kept beside the models so the next training reads them back.

Every training encoded every example again: E5 took about 50 s of a 200–260 s training, the same
for an editor who added five examples as for a fresh clone (bench/RESULTS.md, "Training time").
A text's vector depends only on the text and the encoder (E5 reads each text alone: a text gives the
same numbers in any batch), so a vector is looked up by a hash of both, and a new encoder version
misses instead of reusing. Training only: at serving time nearly every message is new, and a cache
would grow with the traffic.
"""
from __future__ import annotations

import hashlib
import logging
import sqlite3
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

logger = logging.getLogger(__name__)

FILE_NAME = "training-vectors.sqlite3"


class VectorCache:
    """One SQLite file of (key, vector); several trainings may share it at once (SQLite locks)."""

    def __init__(self, path: Path, encoder: str) -> None:
        self.path = path
        self.encoder = encoder

    def key(self, text: str) -> str:
        return hashlib.sha256(f"{self.encoder}\0{text}".encode()).hexdigest()

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection for one read or write, committed and closed after it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(self.path, timeout=60)) as connection, connection:
            connection.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vector BLOB NOT NULL)")
            yield connection

    def read_through(self, read: Callable[[list[str]], Any]) -> Callable[[list[str]], np.ndarray]:
        """``read`` that asks the encoder only about the texts this file has no vector for. A file
        that cannot be read or written costs the time it would have saved, never the training."""
        def cached(texts: list[str]) -> np.ndarray:
            keys = [self.key(text) for text in texts]
            found = self._lookup(set(keys))
            missing = {key: text for key, text in zip(keys, texts) if key not in found}
            if missing:
                fresh = np.asarray(read(list(missing.values())), dtype=np.float32).reshape(len(missing), -1)
                found.update(zip(missing, fresh))
                self._store({key: found[key] for key in missing})
            return np.vstack([found[key] for key in keys])
        return cached

    def _lookup(self, keys: set[str]) -> dict[str, np.ndarray]:
        wanted, found = sorted(keys), {}
        try:
            with self._connect() as connection:
                for start in range(0, len(wanted), 500):  # SQLite takes a limited number of parameters
                    chunk = wanted[start:start + 500]
                    rows = connection.execute(
                        f"SELECT key, vector FROM vectors WHERE key IN ({','.join('?' * len(chunk))})", chunk)
                    found.update((key, np.frombuffer(blob, dtype=np.float32)) for key, blob in rows)
        except (sqlite3.Error, OSError):
            logger.warning("nlu.vector_cache.unreadable path=%s", self.path, exc_info=True)
        return found

    def _store(self, vectors: dict[str, np.ndarray]) -> None:
        try:
            with self._connect() as connection:
                connection.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?)",
                                       [(key, vector.tobytes()) for key, vector in vectors.items()])
        except (sqlite3.Error, OSError):
            logger.warning("nlu.vector_cache.unwritable path=%s", self.path, exc_info=True)
