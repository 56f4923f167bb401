"""The speech cache's entries a customer's conversations produced, where they can be told apart.

The cache (voice/tts.py) names each WAV by a hash of the text spoken, the voice and the rate, not by
the listener. Bot replies kept in a customer's trackers can be hashed again to find the entries
spoken to them; texts said to nobody in particular (a shared prompt) may belong to anyone's call
and are deleted too, which only costs a re-synthesis. Replies a phone flow spoke outside a tracker
cannot be found this way (README says so).
"""
from __future__ import annotations

from typing import Iterable

from voice.speakable import speakable

SAMPLE_RATES = (8000, 16000)  # the phone line's and the browser softphone's


def delete_spoken(engine, trackers: Iterable[list[dict]]) -> int:
    """Delete the cache entries of the bot texts in ``trackers``; ``engine`` has ``cache_path``."""
    removed = 0
    for events in trackers:
        for event in events:
            text = speakable(str(event.get("text") or "").strip()) if event.get("event") == "bot" else ""
            for rate in SAMPLE_RATES if text else ():
                path = engine.cache_path(text, rate)
                if path.exists():
                    path.unlink()
                    removed += 1
    return removed
