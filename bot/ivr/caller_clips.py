"""What a caller said to an agent that no recogniser turned into words, kept as a WAV for the agent.

Without a voice bridge the agent reads the caller; with no recogniser (no Vosk model) or an empty
result there is nothing to read, so the turn's audio is stored as a ``caller_clip`` recording in the
shared database (``bot/db/recordings.py``, so the desk plays it whichever instance serves the agent)
and the conversation gets a turn naming the clip (metadata ``caller_clip``), which the desk plays to
the agent serving the conversation.

A clip is a caller's voice, kept only as long as someone may still need to hear it: it expires
``KEFU_CALLER_CLIP_EXPIRY_SECONDS`` (7 days: the conversation is long over, and its finished queue
record gone) after it was recorded, is no longer played from then on, and ``kefu run``'s pass
(``bot.db.recordings.tidy_forever``) deletes it. A clip the database did not take at once (down) is
written under ``<data_dir>/caller_clips/`` instead (played from there by this instance only) and moved
into the database by that pass: the call does not wait for the database, and the clip is not lost.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from bot.db.recordings import CALLER_CLIP, LOCAL_DIRS, RecordingStore, utcnow
from bot.db.repository import DatabaseError
from bot.ivr.call_state import call_key
from bot.ivr.line import call_id_of
from bot.security.private_files import write_private_file
from voice.pcm import pcm_to_wav_bytes

logger = logging.getLogger(__name__)

CLIPS_DIR = LOCAL_DIRS[CALLER_CLIP]
CLIP_KEY = "caller_clip"  # the user turn's metadata key: {"id": ..., "seconds": ...}


@dataclass(frozen=True)
class Clip:
    id: str
    seconds: float

    def metadata(self) -> dict:
        return {CLIP_KEY: {"id": self.id, "seconds": self.seconds}}


class CallerClips:
    """Stores clips in the database; ``data_dir`` holds the ones it did not take at once."""

    def __init__(self, store: RecordingStore, data_dir: Path, expiry_s: float) -> None:
        self.store = store
        self.data_dir = Path(data_dir)
        self.expiry_s = expiry_s

    @classmethod
    def from_settings(cls, settings) -> "CallerClips":
        return cls(RecordingStore(settings.database_url), settings.data_dir, settings.caller_clip_expiry_s)

    def store_clip(self, pcm: bytes, sample_rate: int, conversation_id: str) -> Clip:
        """Store the turn as a WAV for ``conversation_id`` (blocking: run it in a thread). One attempt at
        the database; if it fails, an owner-only file written atomically, imported later."""
        clip = Clip(uuid.uuid4().hex, round(len(pcm) / 2 / sample_rate, 1))
        wav = pcm_to_wav_bytes(pcm, sample_rate)
        created = utcnow()
        try:
            self.store.save_once(recording_id=clip.id, kind=CALLER_CLIP, conversation_id=conversation_id,
                                 audio=wav, created_at=created,
                                 expires_at=created + dt.timedelta(seconds=self.expiry_s))
        except DatabaseError as exc:
            logger.warning("ivr.caller_clips.kept_locally clip=%s error=%s", clip.id, type(exc).__name__)
            write_private_file(self.data_dir / CLIPS_DIR / f"{clip.id}.wav", wav)
        return clip


def prune(storage_dir: Path, max_age_s: float, now: float | None = None) -> int:
    """Delete the clips (and half-written ones a crash left) last written more than ``max_age_s``
    ago; returns how many. A missing folder has nothing to delete."""
    cutoff = (time.time() if now is None else now) - max_age_s
    removed = 0
    try:
        entries = list(Path(storage_dir).iterdir())
    except FileNotFoundError:
        return 0
    for path in entries:
        if path.suffix not in (".wav", ".part") or not path.is_file():
            continue
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            pass  # another process's pass got there first
    return removed


def clip_ids(events: list[dict]) -> set[str]:
    """The clips a conversation's tracker names: the only ones its agent may play."""
    return {str((e.get("metadata") or {}).get(CLIP_KEY, {}).get("id")) for e in events
            if e.get("event") == "user" and isinstance((e.get("metadata") or {}).get(CLIP_KEY), dict)}


async def untranscribed(redis, conversation_id: str) -> bool:
    """A live call whose line has no recogniser: its agent gets recordings, never words."""
    call_id = call_id_of(conversation_id)
    raw = await redis.get(call_key(call_id)) if call_id else None
    return bool(raw) and json.loads(raw).get("speech_recognised") is False
