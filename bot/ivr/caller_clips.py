"""What a caller said to an agent that no recogniser turned into words, kept as a WAV for the agent.

Without a voice bridge the agent reads the caller; with no recogniser (no Vosk model) or an empty
result there is nothing to read, so the turn's audio is stored under ``<data_dir>/caller_clips/``
(like voice messages under ``voicemail/``) and the conversation gets a turn naming the clip
(metadata ``caller_clip``), which the desk plays to the agent serving the conversation.

A clip is a caller's voice, kept only as long as someone may still need to hear it: ``kefu run``
deletes clips older than ``KEFU_CALLER_CLIP_EXPIRY_SECONDS`` (7 days: the conversation is long over,
and its finished queue record gone) every ``PRUNE_INTERVAL_S`` (:func:`prune_forever`).
"""
from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from bot.ivr.call_state import call_key
from bot.ivr.line import call_id_of
from bot.security.private_files import write_private_file
from voice.pcm import pcm_to_wav_bytes

logger = logging.getLogger(__name__)

CLIPS_DIR = "caller_clips"
PRUNE_INTERVAL_S = 600
CLIP_KEY = "caller_clip"  # the user turn's metadata key: {"id": ..., "seconds": ...}
_CLIP_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class Clip:
    id: str
    seconds: float

    def metadata(self) -> dict:
        return {CLIP_KEY: {"id": self.id, "seconds": self.seconds}}


class CallerClips:
    def __init__(self, storage_dir: Path) -> None:
        self.storage_dir = Path(storage_dir)

    def store(self, pcm: bytes, sample_rate: int) -> Clip:
        """Write the WAV atomically (a half-written clip is never served) and readable by Kefu's user
        only (a caller's voice); blocking: run it in a thread."""
        clip = Clip(uuid.uuid4().hex, round(len(pcm) / 2 / sample_rate, 1))
        write_private_file(self.storage_dir / f"{clip.id}.wav", pcm_to_wav_bytes(pcm, sample_rate))
        return clip

    def path(self, clip_id: str) -> Path | None:
        """The stored clip, or None: only a well-formed id, only a file in this folder."""
        if not _CLIP_ID.match(clip_id or ""):
            return None
        path = self.storage_dir / f"{clip_id}.wav"
        return path if path.is_file() else None


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


def prune_forever(settings, stop: threading.Event, interval_s: float = PRUNE_INTERVAL_S) -> None:
    """Thread body for `kefu run` (like the outbox): a pass at once, then one every ``interval_s``."""
    storage = settings.data_dir / CLIPS_DIR
    while True:
        try:
            removed = prune(storage, settings.caller_clip_expiry_s)
            if removed:
                logger.info("ivr.caller_clips.pruned count=%d", removed)
        except OSError:
            logger.exception("ivr.caller_clips.prune_failed")
        if stop.wait(interval_s):
            return


def clip_ids(events: list[dict]) -> set[str]:
    """The clips a conversation's tracker names: the only ones its agent may play."""
    return {str((e.get("metadata") or {}).get(CLIP_KEY, {}).get("id")) for e in events
            if e.get("event") == "user" and isinstance((e.get("metadata") or {}).get(CLIP_KEY), dict)}


async def untranscribed(redis, conversation_id: str) -> bool:
    """A live call whose line has no recogniser: its agent gets recordings, never words."""
    call_id = call_id_of(conversation_id)
    raw = await redis.get(call_key(call_id)) if call_id else None
    return bool(raw) and json.loads(raw).get("speech_recognised") is False
