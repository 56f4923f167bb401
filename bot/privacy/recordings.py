"""A customer's recordings, in one place: voice messages (a ``voice_messages`` row plus the audio
under ``<data_dir>/voicemail/``) and phone callers' clips (``<data_dir>/caller_clips/``, named by
their conversations' trackers).

Export and erasure reach recordings only through this module, so when recordings move into a
database table this is the one file to point at it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from bot.db.schema import voice_messages
from bot.ivr.caller_clips import CLIPS_DIR, CallerClips, clip_ids
from bot.privacy.subject import Subject

VOICEMAIL_DIR = "voicemail"  # voice/voicemail/pipeline.py's folder


@dataclass(frozen=True)
class Recording:
    name: str  # the file name in an export
    kind: str  # voice_message / caller_clip
    path: Path | None  # None: the row is there, its audio is gone


def voice_message_rows(conn: sa.engine.Connection, subject: Subject) -> list[dict]:
    return [dict(r) for r in conn.execute(sa.select(voice_messages).where(sa.or_(
        voice_messages.c.customer_id == subject.customer_id,
        voice_messages.c.caller_phone.in_(sorted(subject.phones))))).mappings()]


def _voice_message_file(data_dir: Path, row: dict) -> Path | None:
    """The row's audio, only inside Kefu's voicemail folder (a row never leads elsewhere)."""
    path = Path(row.get("audio_path") or "").resolve()
    folder = (Path(data_dir) / VOICEMAIL_DIR).resolve()
    return path if path.is_file() and path.is_relative_to(folder) else None


def recordings(conn: sa.engine.Connection, data_dir: Path, subject: Subject,
               trackers: dict[str, list[dict]]) -> list[Recording]:
    """Every recording of ``subject``: their voice messages, and the clips their calls' trackers name."""
    found = [Recording(f"voice_message-{row['id']}.wav", "voice_message", _voice_message_file(data_dir, row))
             for row in voice_message_rows(conn, subject)]
    clips = CallerClips(Path(data_dir) / CLIPS_DIR)
    for events in trackers.values():
        for clip_id in sorted(clip_ids(events)):
            found.append(Recording(f"caller_clip-{clip_id}.wav", "caller_clip", clips.path(clip_id)))
    return found


def delete_voice_messages(conn: sa.engine.Connection, subject: Subject) -> int:
    """Delete the rows (their files go with :func:`delete_files`); returns the rows deleted."""
    return conn.execute(voice_messages.delete().where(sa.or_(
        voice_messages.c.customer_id == subject.customer_id,
        voice_messages.c.caller_phone.in_(sorted(subject.phones))))).rowcount


def delete_files(found: list[Recording]) -> dict[str, int]:
    """Remove the recordings' files; counts per kind."""
    counts: dict[str, int] = {}
    for recording in found:
        if recording.path is not None and recording.path.exists():
            recording.path.unlink()
            counts[recording.kind] = counts.get(recording.kind, 0) + 1
    return counts
