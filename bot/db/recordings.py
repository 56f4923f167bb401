"""Recordings agents listen to, kept in the shared database so that every instance plays them.

Found by a deployer: with several ``kefu run`` instances behind nginx sharing PostgreSQL and Redis,
voice messages and phone callers' clips were files on the disk of the machine that took them, so an
agent whose desk request landed on another machine got a 404 and could not hear the customer. State
lives in Redis or the database, never on one machine: a recording is a ``recordings`` row (the WAV's
bytes, content type, kind, the conversation's Rasa sender id, created and expiry time).

Sizes: a minute of 8 kHz 16-bit mono audio is 960 KB as WAV. A voice message is at most 120 s
(``voice.audio.DEFAULT_LIMITS``) stored at 16 kHz: 3.84 MB; a caller's clip is one turn of at most
15 s at 8 kHz: 240 KB. ``MAX_RECORDING_BYTES`` (4 MiB) refuses anything larger before it is written,
so one row never grows past what PostgreSQL's ``bytea`` and SQLite's BLOB handle comfortably.

Recordings written as files by an earlier version (``<data_dir>/voicemail/``, ``<data_dir>/caller_clips/``)
are imported once by the instance that holds them (:func:`import_local_files`, run by
:func:`tidy_forever` at ``kefu run``'s start and every ``TIDY_INTERVAL_S``), then deleted from its disk;
until then that instance still serves them from its disk (:func:`local_file`). A caller's clip that
could not be written to the database (down) is kept the same way and imported once it answers.
"""
from __future__ import annotations

import datetime as dt
import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from bot.db.repository import DatabaseError, Repository, _guard, _retry_transient, engine_for
from bot.db.schema import recordings, voice_messages

logger = logging.getLogger(__name__)

VOICE_MESSAGE = "voice_message"
CALLER_CLIP = "caller_clip"
WAV = "audio/wav"
MAX_RECORDING_BYTES = 4 * 1024 * 1024
# Where an earlier version kept each kind's files (and where a clip goes while the database is down).
LOCAL_DIRS = {VOICE_MESSAGE: "voicemail", CALLER_CLIP: "caller_clips"}
TIDY_INTERVAL_S = 600
_ID = re.compile(r"^[0-9a-f]{32}$")


class RecordingTooLarge(ValueError):
    """Over MAX_RECORDING_BYTES: refused rather than stored."""


@dataclass(frozen=True)
class Recording:
    id: str
    kind: str
    conversation_id: str
    content_type: str
    audio: bytes
    created_at: dt.datetime
    expires_at: dt.datetime | None


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)  # the schema's DateTime columns are naive UTC


def insert(conn: sa.engine.Connection, *, recording_id: str, kind: str, conversation_id: str, audio: bytes,
           content_type: str = WAV, expires_at: dt.datetime | None = None,
           created_at: dt.datetime | None = None) -> None:
    """One recording, in the caller's transaction (a voice message's row and audio commit together)."""
    if len(audio) > MAX_RECORDING_BYTES:
        raise RecordingTooLarge(f"recording of {len(audio)} bytes, over the {MAX_RECORDING_BYTES}-byte limit")
    conn.execute(recordings.insert().values(
        id=recording_id, kind=kind, conversation_id=conversation_id, content_type=content_type,
        audio=audio, size_bytes=len(audio), created_at=created_at or utcnow(), expires_at=expires_at))


class RecordingStore:
    """Recordings in the database at ``url``; blocking calls (run them in a thread from async code)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = engine_for(url)

    @_guard
    @_retry_transient
    def save(self, conn, **fields) -> None:
        """Store one recording (the fields of :func:`insert`), retried while the database restarts."""
        insert(conn, **fields)

    @_guard
    def save_once(self, **fields) -> None:
        """Store one recording with a single attempt: for a live call, which must not wait seconds."""
        with self.engine.begin() as conn:
            insert(conn, **fields)

    @_guard
    def get(self, recording_id: str, kind: str, now: dt.datetime | None = None) -> Recording | None:
        """The recording, or None: unknown id, another kind, or past its expiry (even before a pruning
        pass deleted it)."""
        if not _ID.match(recording_id or ""):
            return None
        query = sa.select(recordings).where(
            recordings.c.id == recording_id, recordings.c.kind == kind,
            sa.or_(recordings.c.expires_at.is_(None), recordings.c.expires_at > (now or utcnow())))
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            return None
        return Recording(id=row["id"], kind=row["kind"], conversation_id=row["conversation_id"],
                         content_type=row["content_type"], audio=bytes(row["audio"]),
                         created_at=row["created_at"], expires_at=row["expires_at"])

    @_guard
    def prune(self, now: dt.datetime | None = None) -> int:
        """Delete the recordings past their expiry; how many. Several instances may run it at once."""
        with self.engine.begin() as conn:
            return conn.execute(recordings.delete().where(recordings.c.expires_at <= (now or utcnow()))).rowcount

    @_guard
    def expire(self, recording_id: str, kind: str, after_s: float, now: dt.datetime | None = None) -> None:
        """Give a recording kept until now an expiry ``after_s`` from ``now`` (a voice message whose work
        item is done: nobody plays it any more, and a privacy audit found it kept for ever)."""
        when = (now or utcnow()) + dt.timedelta(seconds=after_s)
        with self.engine.begin() as conn:
            conn.execute(recordings.update().where(recordings.c.id == recording_id, recordings.c.kind == kind,
                                                   recordings.c.expires_at.is_(None)).values(expires_at=when))

    @_guard
    def import_file(self, path: Path, *, recording_id: str, kind: str, conversation_id: str,
                    created_at: dt.datetime, expires_at: dt.datetime | None) -> bool:
        """A recording an earlier version (or a database outage) left in a file, into the database; True
        if it is there now (imported, or by an earlier pass of this or another instance)."""
        try:
            with self.engine.begin() as conn:
                insert(conn, recording_id=recording_id, kind=kind, conversation_id=conversation_id,
                       audio=path.read_bytes(), created_at=created_at, expires_at=expires_at)
        except IntegrityError:
            with self.engine.connect() as conn:
                found = conn.execute(sa.select(recordings.c.id).where(recordings.c.id == recording_id)).first()
            return found is not None
        return True


def local_file(data_dir: Path, kind: str, recording_id: str) -> Path | None:
    """A recording still in this instance's data folder (not imported yet): only a well-formed id,
    only a file in that kind's folder."""
    if not _ID.match(recording_id or "") or kind not in LOCAL_DIRS:
        return None
    path = Path(data_dir) / LOCAL_DIRS[kind] / f"{recording_id}.wav"
    return path if path.is_file() else None


def playable(store: RecordingStore, data_dir: Path, kind: str, recording_id: str) -> tuple[bytes, str] | None:
    """The audio and its content type: from the database, else (not imported yet) from this instance's
    data folder; None if neither has it."""
    recording = store.get(recording_id, kind)
    if recording is not None:
        return recording.audio, recording.content_type
    path = local_file(data_dir, kind, recording_id)
    try:
        return (path.read_bytes(), WAV) if path is not None else None
    except FileNotFoundError:
        return None  # imported (and deleted) by a pass since: in the database now


def import_local_files(store: RecordingStore, data_dir: Path, clip_expiry_s: float,
                       now: dt.datetime | None = None) -> tuple[int, int]:
    """Move this instance's recording files into the database, deleting each once it is stored;
    (imported, deleted as expired). A voice message's file is imported only if its ``voice_messages``
    row exists (its only reference); a clip past its expiry is deleted instead. Files left by a crash
    mid-write (``.part``) are left to :func:`bot.ivr.caller_clips.prune`."""
    now = now or utcnow()
    moved = expired = 0
    for kind, folder in LOCAL_DIRS.items():
        try:
            files = sorted(p for p in (Path(data_dir) / folder).iterdir() if p.suffix == ".wav" and _ID.match(p.stem))
        except FileNotFoundError:
            continue
        for path in files:
            try:
                created = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone.utc).replace(tzinfo=None)
            except FileNotFoundError:
                continue  # another process's pass got there first
            if kind == CALLER_CLIP:
                # Its conversation is only in the tracker that names it, which the desk checks anyway.
                conversation_id, expires = "", created + dt.timedelta(seconds=clip_expiry_s)
                if expires <= now:
                    path.unlink(missing_ok=True)
                    expired += 1
                    continue
            else:
                conversation_id, expires = _voice_message_owner(store, path.stem), None
                if conversation_id is None:
                    continue
            try:
                stored = store.import_file(path, recording_id=path.stem, kind=kind, conversation_id=conversation_id,
                                           created_at=created, expires_at=expires)
            except RecordingTooLarge:  # no version wrote one this big; left where it is, served from here
                logger.warning("recordings.import_refused kind=%s id=%s reason=too_large", kind, path.stem)
                continue
            if stored:
                path.unlink(missing_ok=True)
                moved += 1
    return moved, expired


@_guard
def _voice_message_owner(store: RecordingStore, message_id: str) -> str | None:
    from voice.voicemail.pipeline import conversation_id

    with store.engine.connect() as conn:
        known = conn.execute(sa.select(voice_messages.c.id).where(voice_messages.c.id == message_id)).first()
    return conversation_id(message_id) if known else None


def tidy(settings, store: RecordingStore | None = None) -> tuple[int, int]:
    """One pass: this instance's files into the database, then expired recordings deleted (in the
    database, and files a crash left); (imported, deleted)."""
    from bot.ivr.caller_clips import prune as prune_files

    store = store or RecordingStore(settings.database_url)
    imported, deleted = import_local_files(store, settings.data_dir, settings.caller_clip_expiry_s)
    deleted += store.prune()
    deleted += prune_files(settings.data_dir / LOCAL_DIRS[CALLER_CLIP], settings.caller_clip_expiry_s)
    return imported, deleted


def tidy_forever(settings, stop: threading.Event, interval_s: float = TIDY_INTERVAL_S) -> None:
    """Thread body for ``kefu run`` (like the outbox): a pass at once, then one every ``interval_s``; it
    also deletes the finished outbox rows past ``KEFU_OUTBOX_EXPIRY_SECONDS`` and old write receipts
    (bot/outbound/retention.py), this machine's exports of customers erased since (bot/privacy/
    erased_exports.py) and its unfinished exports a power cut left (bot/privacy/staged_folder.py). A database
    that does not answer is tried again at the next pass."""
    from bot.outbound.retention import once_receipt_expiry_s, prune as prune_outbox, prune_receipts
    from bot.privacy.erased_exports import delete_erased as delete_erased_exports
    from bot.privacy.export import exports_folder
    from bot.privacy.staged_folder import remove_abandoned

    while True:
        try:
            imported, deleted = tidy(settings)
            if imported or deleted:
                logger.info("recordings.tidied imported=%d deleted=%d", imported, deleted)
        except (DatabaseError, SQLAlchemyError, OSError) as exc:  # the thread lives on: next pass
            logger.warning("recordings.tidy_failed error=%s", type(exc).__name__)
        try:
            repository = Repository(settings.database_url)
            if deleted_rows := prune_outbox(repository, settings.outbox_expiry_s):
                logger.info("notify.outbox.pruned deleted=%d", deleted_rows)
            prune_receipts(repository, once_receipt_expiry_s(settings))
        except (DatabaseError, SQLAlchemyError) as exc:
            logger.warning("notify.outbox.prune_failed error=%s", type(exc).__name__)
        try:
            delete_erased_exports(Repository(settings.database_url).engine, settings.data_dir)
        except (DatabaseError, SQLAlchemyError, OSError) as exc:
            logger.warning("privacy.erased_exports.failed error=%s", type(exc).__name__)
        try:
            remove_abandoned(exports_folder(settings.data_dir))
        except OSError as exc:
            logger.warning("privacy.staged_folder.failed error=%s", type(exc).__name__)
        if stop.wait(interval_s):
            return
