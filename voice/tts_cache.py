"""The speech cache forgets what it spoke: files older than ``KEFU_TTS_CACHE_EXPIRY_SECONDS``.

The cache (``var/tts-cache/``, :mod:`voice.tts`) is keyed by the text, so it holds the editors'
prompts and also every reply spoken to a caller, such as "张伟，您当前账户余额 23.50 元" (found by a
data-protection audit: callers' balances, bills and usage kept as audio with no end). ``kefu run``
deletes the files written more than the expiry ago (default 1 day), like caller clips
(:mod:`bot.ivr.caller_clips`); a prompt deleted this way is synthesised again the next time it is
needed. The age counts from when the file was written, not last used, so a personal reply never
outlives the expiry, however often it is played. espeak's own output waits for its resampling in a
dot-named work file in the same folder (:func:`voice.tts._work_file`), so one a killed process left
behind is deleted by the same pass, as are the audio decoder's work folders in the system temp folder
that a process killed mid-decode left (:func:`voice.audio.sweep_work_leftovers`: a customer's uploaded
voice).
"""
from __future__ import annotations

import logging
import threading

from bot.db.recordings import TIDY_INTERVAL_S
from bot.ivr.caller_clips import prune
from voice.audio import sweep_work_leftovers

logger = logging.getLogger(__name__)


def prune_forever(settings, stop: threading.Event, interval_s: float = TIDY_INTERVAL_S) -> None:
    """Thread body for `kefu run`: a pass at once, then one every ``interval_s``."""
    while True:
        try:
            removed = prune(settings.tts_cache_dir, settings.tts_cache_expiry_s)
            if removed:
                logger.info("voice.tts_cache.pruned count=%d", removed)
            if swept := sweep_work_leftovers():
                logger.info("voice.audio.leftovers_deleted count=%d", swept)
        except OSError:
            logger.exception("voice.tts_cache.prune_failed")
        if stop.wait(interval_s):
            return
