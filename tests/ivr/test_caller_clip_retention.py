"""A phone caller's clips are deleted once older than KEFU_CALLER_CLIP_EXPIRY_SECONDS, by the pass
`kefu run` keeps running; until then the desk can still play them (a tester found they were kept
for ever)."""
from __future__ import annotations

import os
import threading
import time

from bot.ivr.caller_clips import CLIPS_DIR, CallerClips, prune_forever
from bot.settings import from_environment


def test_the_default_keeps_clips_a_week():
    assert from_environment({}).caller_clip_expiry_s == 7 * 24 * 3600


def test_clips_past_their_expiry_are_deleted_and_no_longer_served(tmp_path):
    settings = from_environment({"KEFU_DATA_DIR": str(tmp_path), "KEFU_CALLER_CLIP_EXPIRY_SECONDS": "3600"})
    clips = CallerClips(settings.data_dir / CLIPS_DIR)
    old, recent = clips.store(b"\x01\x00" * 800, 8000), clips.store(b"\x01\x00" * 800, 8000)
    two_hours_ago = time.time() - 2 * 3600
    os.utime(clips.path(old.id), (two_hours_ago, two_hours_ago))
    crashed = settings.data_dir / CLIPS_DIR / ".left-by-a-crash.wav.part"
    crashed.write_bytes(b"RIFF")
    os.utime(crashed, (two_hours_ago, two_hours_ago))

    stop = threading.Event()
    pass_runner = threading.Thread(target=prune_forever, args=(settings, stop), daemon=True)
    pass_runner.start()
    try:
        deadline = time.monotonic() + 10
        while clips.path(old.id) is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert clips.path(old.id) is None and not crashed.exists()
        assert clips.path(recent.id) is not None  # still within its week: the agent may play it
    finally:
        stop.set()
        pass_runner.join(timeout=10)
    assert not pass_runner.is_alive()
