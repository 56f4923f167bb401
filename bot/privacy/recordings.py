"""A customer's recordings, in one place: voice messages (a ``voice_messages`` row, its audio a
``recordings`` row with the same id) and phone callers' clips (``recordings`` rows named by their
calls' trackers, or filed under one of their conversations: a clip can outlive its call's tracker when
``KEFU_TRACKER_EXPIRY_SECONDS`` is the shorter). A recording an earlier version left as a file and not yet imported
(``bot/db/recordings.py``) is found in this instance's data folder too.

Export and erasure reach recordings only through this module.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from bot.db import recordings as stored
from bot.db.repository import in_chunks
from bot.db.schema import recordings as recordings_table, voice_messages
from bot.ivr.caller_clips import clip_ids
from bot.privacy.subject import Subject


@dataclass(frozen=True)
class Recording:
    name: str  # the file name in an export
    kind: str  # voice_message / caller_clip
    recording_id: str
    audio: bytes | None  # None: the row is there, its audio is gone
    local_file: Path | None = None  # not imported into the database yet (this instance's disk)


def voice_message_rows(conn: sa.engine.Connection, subject: Subject) -> list[dict]:
    return [dict(r) for r in conn.execute(sa.select(voice_messages).where(sa.or_(
        subject.owns(voice_messages.c.customer_id),
        voice_messages.c.caller_phone.in_(sorted(subject.phone_spellings))))).mappings()]


def _found(conn: sa.engine.Connection, data_dir: Path, kind: str, recording_id: str, name: str) -> Recording:
    audio = conn.execute(sa.select(recordings_table.c.audio).where(
        recordings_table.c.id == recording_id, recordings_table.c.kind == kind)).scalar()
    local = stored.local_file(data_dir, kind, recording_id)
    if audio is None and local is not None:
        audio = local.read_bytes()
    return Recording(name, kind, recording_id, bytes(audio) if audio is not None else None, local)


def recordings(conn: sa.engine.Connection, data_dir: Path, subject: Subject,
               trackers: dict[str, list[dict]]) -> list[Recording]:
    """Every recording of ``subject``: their voice messages, and the clips of their calls (named by the
    calls' trackers, or stored under the calls' conversation ids)."""
    found = [_found(conn, data_dir, stored.VOICE_MESSAGE, row["id"], f"voice_message-{row['id']}.wav")
             for row in voice_message_rows(conn, subject)]
    clips = {clip_id for events in trackers.values() for clip_id in clip_ids(events)}
    for chunk in in_chunks(sorted(subject.conversation_ids)):
        clips |= set(conn.execute(sa.select(recordings_table.c.id).where(
            recordings_table.c.kind == stored.CALLER_CLIP, recordings_table.c.conversation_id.in_(chunk))).scalars())
    for clip_id in sorted(clips):
        found.append(_found(conn, data_dir, stored.CALLER_CLIP, clip_id, f"caller_clip-{clip_id}.wav"))
    return found


def delete_voice_messages(conn: sa.engine.Connection, subject: Subject) -> int:
    """Delete the rows (their audio goes with :func:`delete_audio`); returns the rows deleted."""
    return conn.execute(voice_messages.delete().where(sa.or_(
        subject.owns(voice_messages.c.customer_id),
        voice_messages.c.caller_phone.in_(sorted(subject.phone_spellings))))).rowcount


def delete_audio(conn: sa.engine.Connection, found: list[Recording]) -> dict[str, int]:
    """Remove the recordings' audio (database rows, and files not imported yet); counts per kind."""
    counts: dict[str, int] = {}
    for recording in found:
        deleted = conn.execute(recordings_table.delete().where(
            recordings_table.c.id == recording.recording_id, recordings_table.c.kind == recording.kind)).rowcount
        if recording.local_file is not None and recording.local_file.exists():
            recording.local_file.unlink()
            deleted = deleted or 1
        if deleted:
            counts[recording.kind] = counts.get(recording.kind, 0) + 1
    return counts
