"""Published Rasa models in the shared database: the file's bytes, and which one is published.

Found in production: with several ``kefu run`` machines on one PostgreSQL, ``kefu train`` hot-swapped
the new model into its own machine's server only, so customers got different NLU depending on the
machine. Every machine already shares the database (secrets, recordings), so the model goes there too:

- **Why the database, not a shared models folder.** It works from a fresh clone on the embedded
  SQLite and on PostgreSQL with nothing else to set up, mount or back up, and the publish and its
  bytes commit in one place every machine already reaches. A model is 20-30 MB, so the file is stored
  in ``model_file_chunks`` rows of at most ``CHUNK_BYTES`` (1 MiB): storing reads the file chunk by
  chunk, fetching writes it chunk by chunk (one query per chunk), so neither end ever holds the whole
  model in memory, and no single ``bytea``/BLOB value or statement is large. Measured with the
  27.6 MB served model: storing it peaks at 5 MB of Python memory on PostgreSQL (0.7 s; 2 MB on
  SQLite), fetching at 3 MB (0.5 s); asking for the current publication takes 0.5 ms.
- **Integrity.** ``model_files.sha256`` is the hash of the whole file; a fetch computes it while
  writing a temporary file and renames it into place only if it matches (``ChecksumMismatch``
  otherwise: nothing is left behind).
- **Publishing** adds a ``model_publications`` row (who, from which host, when); the newest row is the
  published model. Rolling back is publishing an earlier stored model again: a new row.
- **Size.** Only the models of the last ``KEEP_PUBLISHED`` publications are kept (:meth:`prune`), so
  the database grows by at most that many models; the history rows stay.
- **Publish and prune at once** (a rollback to an old model on one machine while another's publish
  prunes): a prune that read the kept set before the rollback's publication committed
  deleted the model it names, so no machine could fetch the published model. Each now runs in one
  transaction that locks the ``model_files`` rows it depends on (``FOR UPDATE`` on PostgreSQL; the
  write lock from the start on SQLite, :func:`_writing`): a prune re-reads the publications once it
  holds its rows, and a publish whose model was pruned meanwhile is refused (``ModelGone``).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from bot.db.repository import DatabaseError, _guard, engine_for
from bot.db.schema import model_file_chunks, model_files, model_publications
from bot.db.write_locked import write_locked
from bot.security.private_files import private_dir

CHUNK_BYTES = 1024 * 1024
KEEP_PUBLISHED = 10


class ChecksumMismatch(DatabaseError):
    """The bytes fetched from the database are not the model that was stored: refused."""


class ModelGone(DatabaseError):
    """The model to publish is no longer stored (pruned since it was found): nothing was published."""


@dataclass(frozen=True)
class StoredModel:
    sha256: str
    name: str
    size_bytes: int
    stored_at: dt.datetime


@dataclass(frozen=True)
class Publication:
    id: int
    sha256: str
    name: str
    published_by: str
    host: str
    published_at: dt.datetime

    def describe(self) -> str:
        return (f"{self.name} (sha256 {self.sha256[:12]}), published by {self.published_by}"
                f"{' on ' + self.host if self.host else ''} at {self.published_at:%Y-%m-%d %H:%M:%S} UTC")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)  # the schema's DateTime columns are naive UTC


@contextmanager
def _writing(engine: Engine) -> Iterator[Connection]:
    """A connection in one transaction that can lock what it reads, on SQLite too (bot/db/write_locked.py)."""
    with engine.connect() as conn, write_locked(conn):
        yield conn


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(CHUNK_BYTES):
            digest.update(block)
    return digest.hexdigest()


class ModelStore:
    """Published models in the database at ``url``; blocking calls."""

    def __init__(self, url: str) -> None:
        self.engine = engine_for(url)

    @_guard
    def store(self, path: Path, name: str | None = None) -> StoredModel:
        """The file's bytes, once per content (a second store of the same bytes finds the first)."""
        sha256 = file_sha256(path)
        found = self.get(sha256)
        if found is not None:
            return found
        size = path.stat().st_size
        try:
            with self.engine.begin() as conn, open(path, "rb") as handle:  # all chunks or none
                conn.execute(model_files.insert().values(sha256=sha256, name=name or path.name, size_bytes=size,
                                                         stored_at=utcnow()))
                seq = 0
                while block := handle.read(CHUNK_BYTES):
                    conn.execute(model_file_chunks.insert(), {"sha256": sha256, "seq": seq, "data": block})
                    seq += 1
        except IntegrityError:
            pass  # another machine stored the same bytes at the same moment: theirs is the same model
        stored = self.get(sha256)
        if stored is None:
            raise DatabaseError(f"model {sha256} was stored, yet cannot be read back")
        return stored

    @_guard
    def get(self, sha256: str) -> StoredModel | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(model_files).where(model_files.c.sha256 == sha256)).mappings().first()
        return StoredModel(**row) if row else None

    @_guard
    def find(self, name_or_sha: str) -> StoredModel | None:
        """A stored model by the name it was published or stored under (as that name), or by its sha256
        (or a prefix of at least 8 characters: :meth:`Publication.describe` shows 12)."""
        with self.engine.connect() as conn:
            sha = conn.execute(sa.select(model_publications.c.sha256).where(model_publications.c.name == name_or_sha)
                               .order_by(model_publications.c.id.desc()).limit(1)).scalar()
            query = sa.select(model_files).order_by(model_files.c.stored_at.desc()).limit(1)
            if sha is not None:
                query = query.where(model_files.c.sha256 == sha)
            elif len(name_or_sha) >= 8 and all(c in "0123456789abcdef" for c in name_or_sha):
                query = query.where(sa.or_(model_files.c.sha256.startswith(name_or_sha),
                                           model_files.c.name == name_or_sha))
            else:
                query = query.where(model_files.c.name == name_or_sha)
            row = conn.execute(query).mappings().first()
        if row is None:
            return None
        stored = StoredModel(**row)
        return dataclasses.replace(stored, name=name_or_sha) if sha is not None else stored

    @_guard
    def fetch(self, sha256: str, destination: Path) -> Path:
        """Write the stored model to ``destination`` (a temporary file renamed into place), one chunk at a
        time; ``ChecksumMismatch`` (and no file) when its bytes do not hash to ``sha256``."""
        stored = self.get(sha256)
        if stored is None:
            raise DatabaseError(f"no model with sha256 {sha256} is stored (pruned, or never published here)")
        private_dir(destination.parent)
        partial = destination.with_name(f".{destination.name}.{os.getpid()}.part")
        digest, size = hashlib.sha256(), 0
        try:
            with open(partial, "wb") as out, self.engine.connect() as conn:
                seq = 0
                while (block := conn.execute(sa.select(model_file_chunks.c.data).where(
                        model_file_chunks.c.sha256 == sha256, model_file_chunks.c.seq == seq)).scalar()) is not None:
                    block = bytes(block)
                    out.write(block)
                    digest.update(block)
                    size += len(block)
                    seq += 1
            if digest.hexdigest() != sha256 or size != stored.size_bytes:
                raise ChecksumMismatch(f"the stored bytes of {stored.name} hash to {digest.hexdigest()[:12]} "
                                       f"({size} bytes), not to {sha256[:12]} ({stored.size_bytes} bytes): refused")
            os.replace(partial, destination)
        finally:
            partial.unlink(missing_ok=True)
        return destination

    @_guard
    def publish(self, stored: StoredModel, published_by: str, host: str = "", name: str | None = None) -> Publication:
        """Make ``stored`` the published model (a new history row) under ``name`` (default: the name it was
        stored with; the same bytes published from a file of another name are served by that name), then
        drop models no longer kept. ``ModelGone`` when a prune deleted ``stored`` since it was found: its
        row is locked first, so a prune running meanwhile either waits for this publication or has
        deleted the model before it is published."""
        at, name = utcnow(), (name or stored.name)[:200]
        with _writing(self.engine) as conn:
            if conn.execute(sa.select(model_files.c.sha256).where(model_files.c.sha256 == stored.sha256)
                            .with_for_update()).first() is None:
                raise ModelGone(f"{stored.name} (sha256 {stored.sha256[:12]}) is no longer stored: another machine "
                                "pruned it meanwhile (`kefu published` lists the models that can be published "
                                "again); publish its file to store it again")
            new_id = conn.execute(model_publications.insert().values(
                sha256=stored.sha256, name=name, published_by=published_by[:64], host=host[:200],
                published_at=at)).inserted_primary_key[0]
        self.prune()
        return Publication(new_id, stored.sha256, name, published_by[:64], host[:200], at)

    @_guard
    def current(self) -> Publication | None:
        """The published model: the newest publication (one indexed row; cheap to ask every few seconds)."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(model_publications).order_by(model_publications.c.id.desc())
                               .limit(1)).mappings().first()
        return Publication(**row) if row else None

    @_guard
    def history(self, limit: int = 20) -> list[tuple[Publication, bool]]:
        """The newest publications first, each with whether its model is still stored (can be published again)."""
        query = (sa.select(model_publications, model_files.c.sha256.is_not(None).label("stored"))
                 .select_from(model_publications.outerjoin(model_files,
                                                           model_files.c.sha256 == model_publications.c.sha256))
                 .order_by(model_publications.c.id.desc()).limit(limit))
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [(Publication(**{k: v for k, v in row.items() if k != "stored"}), bool(row["stored"])) for row in rows]

    @_guard
    def prune(self, keep: int = KEEP_PUBLISHED) -> int:
        """Delete stored models that none of the last ``keep`` publications names; how many. A model
        stored in the last hour is kept too: another machine may be about to publish it.

        The candidates are locked before the publications are read (in sha256 order: two prunes do not
        deadlock), so a publication of one of them committing meanwhile is seen: its publish holds the
        row until it commits."""
        recent = (sa.select(model_publications.c.sha256).order_by(model_publications.c.id.desc())
                  .limit(keep).subquery())
        settled = model_files.c.stored_at < utcnow() - dt.timedelta(hours=1)
        with _writing(self.engine) as conn:
            candidates = conn.execute(sa.select(model_files.c.sha256).where(settled)
                                      .order_by(model_files.c.sha256).with_for_update()).scalars().all()
            kept = set(conn.execute(sa.select(recent.c.sha256)).scalars())
            old = [sha for sha in candidates if sha not in kept]
            for sha in old:
                conn.execute(model_file_chunks.delete().where(model_file_chunks.c.sha256 == sha))
                conn.execute(model_files.delete().where(model_files.c.sha256 == sha))
        return len(old)
