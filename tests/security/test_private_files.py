"""Customer data on disk is Kefu's user's only: the embedded Redis's folder, voice messages, phone
callers' clips and the speech cache (a tester found them readable by every local user, like the
database and logs before them). Each is made the way Kefu makes it, under the usual umask 022."""
from __future__ import annotations

import math
import os
import stat
import struct
from pathlib import Path

import pytest
import redis as redis_client

from bot.db.recordings import RecordingStore
from bot.db.repository import DatabaseError, Repository
from bot.embedded_redis import EmbeddedRedis
from bot.ivr.caller_clips import CallerClips
from voice.pcm import Pcm, pcm_to_wav_bytes
from voice.tts import _convert_and_store
from voice.voicemail.pipeline import VoicemailPipeline


@pytest.fixture(autouse=True)
def usual_umask():
    before = os.umask(0o022)
    yield
    os.umask(before)


def tone(sample_rate: int, seconds: float = 0.3) -> bytes:
    count = int(sample_rate * seconds)
    return struct.pack(f"<{count}h", *(int(8000 * math.sin(2 * math.pi * 440 * i / sample_rate)) for i in range(count)))


def modes(folder: Path) -> dict[str, int]:
    """The folder's mode and every entry's below it, by path relative to the folder."""
    found = {".": stat.S_IMODE(folder.stat().st_mode)}
    for path in folder.rglob("*"):
        found[str(path.relative_to(folder))] = stat.S_IMODE(path.stat().st_mode)
    return found


def assert_private(folder: Path, expected_files: int) -> None:
    found = modes(folder)
    files = {name for name in found if (folder / name).is_file()}
    assert len(files) >= expected_files, found
    assert {name: mode for name, mode in found.items()
            if mode != (0o600 if name in files else 0o700)} == {}


def test_the_embedded_redis_keeps_its_data_and_log_private(tmp_path):
    server = EmbeddedRedis(tmp_path / "redis").start()
    try:
        client = redis_client.Redis.from_url(server.url)
        client.set("kefu:test", "13800000001")
        client.close()
    finally:
        server.stop()
    assert_private(tmp_path / "redis", expected_files=2)  # the append-only file(s) and redis.log


def unreachable_database():
    """An engine where nothing listens (as PostgreSQL stopped): what a database outage looks like."""
    import sqlalchemy as sa

    from bot.embedded_redis import free_port

    return sa.create_engine(f"postgresql://kefu:x@127.0.0.1:{free_port()}/kefu")


def test_a_callers_clip_kept_while_the_database_is_down_is_private(tmp_path):
    """Clips live in the database; one it did not take waits on disk for the next pass."""
    store = RecordingStore(f"sqlite:///{tmp_path / 'kefu.sqlite3'}")
    store.engine = unreachable_database()
    clip = CallerClips(store, tmp_path, 3600).store_clip(tone(8000), 8000, "ivr:call")
    assert (tmp_path / "caller_clips" / f"{clip.id}.wav").is_file()
    assert_private(tmp_path / "caller_clips", expected_files=1)


def test_a_voice_message_the_database_did_not_take_is_private(tmp_path, monkeypatch):
    """Voice messages live in the database; one it did not take is kept on disk for an operator."""
    import bot.db.repository

    monkeypatch.setattr(bot.db.repository, "WRITE_RETRY_S", 0.0)
    repository = Repository(f"sqlite:///{tmp_path / 'kefu.sqlite3'}")
    pipeline = VoicemailPipeline(repository=repository, nlu=None, notifier=None, policy=None,
                                 catalogue_path=tmp_path / "selfhelp.yml", storage_dir=tmp_path / "voicemail")
    pipeline._ensure_schema()
    repository.engine = unreachable_database()
    with pytest.raises(DatabaseError):
        pipeline._store("a" * 32, Pcm(tone(16000), 16000), "13800000001", None, "ivr")
    assert (tmp_path / "voicemail" / "unsaved" / f"{'a' * 32}.wav").read_bytes()[:4] == b"RIFF"
    assert_private(tmp_path / "voicemail", expected_files=2)  # the WAV and who left it, in unsaved/


def test_the_speech_cache_is_private(tmp_path):
    raw = tmp_path / "speech.wav"
    raw.write_bytes(pcm_to_wav_bytes(tone(22050), 22050))
    cached_at = tmp_path / "tts-cache" / "reply.wav"
    assert _convert_and_store(raw, 8000, cached_at)[:4] == b"RIFF"
    assert_private(tmp_path / "tts-cache", expected_files=1)
