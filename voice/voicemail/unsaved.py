"""Voice messages the database did not take, filed again by ``kefu run`` once it does.

When the database refuses a message for the pipeline's 8 s of retries, the WAV and who left it are kept
in ``<data_dir>/voicemail/unsaved/`` (``<id>.wav`` and ``<id>.json``, see
:func:`voice.voicemail.pipeline.keep_unsaved`). Before, an operator had to notice the log line and file
each one by hand; now :func:`refile_forever` (a thread of ``kefu run``) makes a pass at start and every
recordings' tidy interval, and each message goes through the pipeline as if it had just arrived: stored,
recognised, routed (a work item or a self-help reply), under the id it was kept with.

Exactly once: the id is the ``voice_messages`` row's primary key, so of two passes racing (two
instances sharing the data folder) only one stores and routes it; the other, and a pass after a crash
between storing it and deleting its files, finds it stored (``AlreadyFiled``) and only deletes the
files. The files go only once the message is in the database. Still refused: left for the next pass.
"""
from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from bot.db.repository import DatabaseError
from voice.errors import VoiceError
from voice.voicemail.pipeline import UNSAVED_DIR, VOICEMAIL_DIR, AlreadyFiled, VoicemailPipeline

logger = logging.getLogger(__name__)

_ID = re.compile(r"^[0-9a-f]{32}$")
UNKNOWN_CHANNEL = "ivr"  # a message kept without its .json (a crash between the two writes): the phone's


@dataclass(frozen=True)
class Kept:
    """One message waiting in ``unsaved/``."""

    message_id: str
    wav: Path
    caller_phone: str
    channel: str


@dataclass
class Pass:
    filed: int = 0  # stored and routed now
    already: int = 0  # found stored by an earlier pass or another instance: files deleted only
    left: int = 0  # still waiting (database still refusing, or audio unusable)


def unsaved_dir(storage_dir: Path) -> Path:
    return Path(storage_dir) / UNSAVED_DIR


def kept_messages(storage_dir: Path) -> list[Kept]:
    """The messages waiting, oldest first."""
    folder = unsaved_dir(storage_dir)
    try:
        wavs = [p for p in folder.iterdir() if p.suffix == ".wav" and _ID.match(p.stem)]
    except FileNotFoundError:
        return []
    kept = []
    for wav in sorted(wavs, key=_mtime):
        about = _about(wav.with_suffix(".json"))
        kept.append(Kept(wav.stem, wav, str(about.get("caller") or ""), str(about.get("channel") or UNKNOWN_CHANNEL)))
    return kept


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def _about(path: Path) -> dict:
    try:
        about = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        logger.warning("voice.voicemail.unsaved_without_caller id=%s", path.stem)
        return {}
    return about if isinstance(about, dict) else {}


def _forget(kept: Kept) -> None:
    kept.wav.with_suffix(".json").unlink(missing_ok=True)
    kept.wav.unlink(missing_ok=True)  # last: a .wav without its .json is still filed, with no caller


async def refile_unsaved(pipeline: VoicemailPipeline, storage_dir: Path) -> Pass:
    """File every waiting message; stop at the first the database refuses (it is down: the rest wait)."""
    done = Pass()
    waiting = kept_messages(storage_dir)
    for n, kept in enumerate(waiting):
        try:
            outcome = await pipeline.refile(kept.wav, message_id=kept.message_id, caller_phone=kept.caller_phone,
                                            channel=kept.channel)
        except AlreadyFiled:
            _forget(kept)
            done.already += 1
            continue
        except VoiceError as exc:
            if not kept.wav.exists():
                continue  # another instance's pass filed it and deleted the files a moment ago
            # not decodable (cut short by a crash?): left for an operator to look at
            logger.error("voice.voicemail.unsaved_unusable id=%s error=%s", kept.message_id, exc)
            done.left += 1
            continue
        except DatabaseError as exc:
            logger.warning("voice.voicemail.refile_deferred waiting=%d error=%s", len(waiting) - n,
                           str(exc).splitlines()[0][:200])
            done.left += len(waiting) - n
            break
        _forget(kept)
        done.filed += 1
        logger.info("voice.voicemail.refiled id=%s outcome=%s ticket=%s", kept.message_id, outcome.outcome,
                    outcome.ticket_id)
    return done


def refile_pass(settings) -> Pass:
    """One pass as ``kefu run`` makes it: the pipeline (and an NLU) built only when a message waits."""
    storage_dir = settings.data_dir / VOICEMAIL_DIR
    if not kept_messages(storage_dir):
        return Pass()
    from voice.commands import default_nlu
    from voice.voicemail.nlu import LocalRasaNlu

    nlu = default_nlu(settings)  # as `kefu voicemail` files one: the running server's model
    try:
        return asyncio.run(refile_unsaved(VoicemailPipeline.from_settings(settings, nlu=nlu), storage_dir))
    finally:
        if isinstance(nlu, LocalRasaNlu):
            nlu.close()


def refile_forever(settings, stop: threading.Event, interval_s: float | None = None) -> None:
    """Thread body for ``kefu run``: a pass at once, then one every recordings' tidy interval."""
    from bot.db.recordings import TIDY_INTERVAL_S

    while True:
        try:
            done = refile_pass(settings)
            if done.filed or done.already or done.left:
                logger.info("voice.voicemail.unsaved_pass filed=%d already=%d waiting=%d",
                            done.filed, done.already, done.left)
        except Exception:  # noqa: BLE001 - the thread lives on: the next pass tries again
            logger.exception("voice.voicemail.refile_failed")
        if stop.wait(TIDY_INTERVAL_S if interval_s is None else interval_s):
            return
