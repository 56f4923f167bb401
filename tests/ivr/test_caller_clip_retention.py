"""A phone caller's clips are deleted once older than KEFU_CALLER_CLIP_EXPIRY_SECONDS, by the pass
`kefu run` keeps running; until then the desk can still play them (a tester found they were kept
for ever). Clips live in the shared database (bot/db/recordings.py), so the pass is a DELETE there;
one past its expiry is not played even before the pass gets to it."""
from __future__ import annotations

import dataclasses
import datetime as dt
import os
import threading
import time

import sqlalchemy as sa

from bot.db.recordings import CALLER_CLIP, RecordingStore, tidy_forever
from bot.db.schema import recordings
from bot.ivr.caller_clips import CLIPS_DIR, CallerClips
from bot.settings import from_environment


def test_the_default_keeps_clips_a_week():
    assert from_environment({}).caller_clip_expiry_s == 7 * 24 * 3600


def test_clips_past_their_expiry_are_deleted_and_no_longer_served(kefu_env):
    settings = dataclasses.replace(kefu_env, caller_clip_expiry_s=3600)
    store = RecordingStore(settings.database_url)
    clips = CallerClips.from_settings(settings)
    old, recent = (clips.store_clip(b"\x01\x00" * 800, 8000, "ivr:call") for _ in range(2))
    kept = store.get(old.id, CALLER_CLIP)
    assert kept.expires_at - kept.created_at == dt.timedelta(hours=1)
    two_hours_ago = dt.datetime.utcnow() - dt.timedelta(hours=2)
    with store.engine.begin() as conn:
        conn.execute(recordings.update().where(recordings.c.id == old.id)
                     .values(created_at=two_hours_ago, expires_at=two_hours_ago + dt.timedelta(hours=1)))
    assert store.get(old.id, CALLER_CLIP) is None  # expired: not played, even before the pass
    crashed = settings.data_dir / CLIPS_DIR / ".left-by-a-crash.wav.part"
    crashed.parent.mkdir(parents=True)
    crashed.write_bytes(b"RIFF")
    os.utime(crashed, (time.time() - 7200, time.time() - 7200))

    def stored() -> set[str]:
        with store.engine.connect() as conn:
            return {row.id for row in conn.execute(sa.select(recordings.c.id))}

    stop = threading.Event()
    pass_runner = threading.Thread(target=tidy_forever, args=(settings, stop), daemon=True)
    pass_runner.start()
    try:
        deadline = time.monotonic() + 10
        while (old.id in stored() or crashed.exists()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert stored() == {recent.id} and not crashed.exists()
        assert store.get(recent.id, CALLER_CLIP) is not None  # still within its hour: the agent may play it
    finally:
        stop.set()
        pass_runner.join(timeout=10)
    assert not pass_runner.is_alive()
