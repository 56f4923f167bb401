"""Recordings play on the desk of every instance, not only on the machine that took them.

Found by a deployer running several ``kefu run`` instances behind nginx on one PostgreSQL and Redis:
voice messages and phone callers' clips were files on the machine that recorded them, so when an
agent's desk request landed on another instance the recording was a 404 and the agent could not hear
the customer. Here "another machine" is another data directory on the same database: the voice
message is left through ``kefu voicemail`` in its own process with its own ``KEFU_DATA_DIR``, the clip
by a line whose data directory is not the desk's; the desk (on a real Redis queue and the shared
database, HTTP handlers called directly) plays both, to exactly the agents who could before.
"""
from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import io
import json
import math
import os
import re
import socket
import struct
import subprocess
import sys
import time
import types
import wave

import pytest
import sqlalchemy as sa

from bot.channels import agent_desk
from bot.db.recordings import CALLER_CLIP, MAX_RECORDING_BYTES, RecordingStore, RecordingTooLarge, tidy
from bot.db.repository import Repository
from bot.db.schema import recordings
from bot.embedded_redis import free_port
from bot.handoff.accounts import SUPERVISOR, AccountStore
from bot.handoff.desk import Desk
from bot.handoff.queue import HandoffRequest
from bot.handoff.sessions import COOKIE
from bot.ivr.caller_clips import CLIPS_DIR, CallerClips
from bot.ledger.ledger import fault_of, named_skill
from tests.conftest import PROJECT_ROOT
from tests.handoff.test_desk_first_shift import Conversations
from voice.pcm import pcm_to_wav_bytes


def tone(sample_rate: int, seconds: float) -> bytes:
    count = int(sample_rate * seconds)
    return struct.pack(f"<{count}h", *(int(8000 * math.sin(2 * math.pi * 440 * i / sample_rate)) for i in range(count)))


def seconds_of(wav: bytes) -> float:
    with wave.open(io.BytesIO(wav)) as reader:
        return reader.getnframes() / reader.getframerate()


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


class ClipConversations(Conversations):
    """The desk's view of Rasa: each conversation's user turns naming clips, as the phone line sends them."""

    def __init__(self) -> None:
        super().__init__()
        self.clips: dict[str, list[str]] = {}

    async def events(self, conversation_id: str) -> list[dict]:
        return [{"event": "user", "text": "", "metadata": {"caller_clip": {"id": clip_id, "seconds": 1.0}}}
                for clip_id in self.clips.get(conversation_id, [])]


@pytest.fixture
def other_machine(kefu_env, tmp_path):
    """Another instance's settings: the same database, a data directory of its own."""
    data_dir = tmp_path / "other-machine"
    data_dir.mkdir()
    return dataclasses.replace(kefu_env, data_dir=data_dir)


@pytest.fixture
def desk(queue, kefu_env):
    """The desk of this instance (``kefu_env``'s data directory) on the shared database."""
    return Desk(queue, ClipConversations(), AccountStore(kefu_env.database_url), Repository(kefu_env.database_url))


async def agent(desk: Desk, name: str, skills: list[str], role: str = "agent") -> str:
    """A signed-in agent; their desk session's cookie token."""
    desk.accounts.add(name, f"{name}-pass-1", skills, known_skills=list(desk.queue.rules.skills), role=role)
    token, _ = await desk.login(name, f"{name}-pass-1")
    return token


def desk_get(desk: Desk, token: str, path: str) -> types.SimpleNamespace:
    app = types.SimpleNamespace(ctx=types.SimpleNamespace(kefu_desk=desk))
    return types.SimpleNamespace(app=app, cookies={COOKIE: token}, method="GET", path=path, headers={})


async def play_work_item(desk: Desk, token: str, ticket_id: str):
    return await agent_desk.work_item_audio(desk_get(desk, token, f"/agent/api/tickets/{ticket_id}/audio"),
                                            ticket_id=ticket_id)


async def play_clip(desk: Desk, token: str, conversation_id: str, clip_id: str):
    path = f"/agent/api/conversations/{conversation_id}/clips/{clip_id}"
    return await agent_desk.caller_clip(desk_get(desk, token, path), conversation_id=conversation_id, clip_id=clip_id)


def leave_voice_message(machine, wav_file) -> str:
    """``kefu voicemail`` as an operator runs it on ``machine``: its own process, data directory and
    no recogniser (the message becomes a work item for a person); the ticket it printed."""
    environment = {**os.environ, "VOSK_MODEL_PATH": "", "KEFU_DATA_DIR": str(machine.data_dir),
                   "KEFU_DATABASE_URL": machine.database_url}
    done = subprocess.run([sys.executable, "-m", "bot.cli", "voicemail", str(wav_file), "--from", "13900000123",
                           "--rasa-url", closed_port_url()], capture_output=True, text=True, env=environment,
                          timeout=180, cwd=PROJECT_ROOT)
    assert done.returncode == 0, done.stderr
    return re.search(r"ticket: (TK\d+)", done.stdout).group(1)


async def plays_recorded(desk, conversation_id: str, count: int = 1) -> list[dict]:
    """The ``recording_played`` events of a conversation, once ``count`` are written (a privacy audit
    found playing a customer's voice left no trace)."""
    deadline = time.monotonic() + 10
    while True:
        found = [e["data"] for e in desk.repository.events_for(conversation_id) if e["kind"] == "recording_played"]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.1)


async def test_a_voice_message_left_on_one_machine_plays_on_the_desk_of_another(desk, other_machine, kefu_env,
                                                                               tmp_path):
    spoken = tone(16000, 2.0)
    message = tmp_path / "message.wav"
    message.write_bytes(pcm_to_wav_bytes(spoken, 16000))
    ticket_id = leave_voice_message(other_machine, message)

    ticket = desk.repository.get_ticket(ticket_id)
    skill = desk.queue.rules.ticket_skill(ticket["kind"], named_skill(ticket), fault_of(ticket))
    token = await agent(desk, "wang", [skill])
    played = await play_work_item(desk, token, ticket_id)
    assert played.status == 200, played.body
    assert played.content_type == "audio/wav" and played.headers["Cache-Control"] == "private, no-store"
    assert abs(seconds_of(played.body) - 2.0) < 0.01
    heard = await plays_recorded(desk, ticket["conversation_id"])
    assert [(e["kind"], e["ticket_id"]) for e in heard] == [("voice_message", ticket_id)], "who listened is audited"
    # Nothing of the caller's voice stays on the machine that took it.
    voicemail_dir = other_machine.data_dir / "voicemail"
    assert not voicemail_dir.exists() or not any(voicemail_dir.iterdir())

    # As before: an agent of another skill group neither plays it nor learns that it exists.
    others = [s for s in desk.queue.rules.skills if s != skill][:1]
    outsider = await agent(desk, "li", others)
    refused = await play_work_item(desk, outsider, ticket_id)
    assert refused.status == 404 and json.loads(refused.body)["error"] == "error_ticket"
    missing = await play_work_item(desk, token, "TK999999")
    assert missing.status == 404 and json.loads(missing.body)["error"] == "error_ticket"


async def test_a_callers_clip_recorded_on_one_machine_plays_for_its_agent_on_another(desk, queue, other_machine):
    conversation_id = "ivr:MZ00000000000000000000000000000001"
    clip = CallerClips.from_settings(other_machine).store_clip(tone(8000, 1.5), 8000, conversation_id)
    desk.conversations.clips[conversation_id] = [clip.id]
    assert not (other_machine.data_dir / CLIPS_DIR).exists(), "the clip went to the machine's disk"

    token = await agent(desk, "wang", ["general"])
    await queue.roster.register("wang", name="wang", skills=["general"], capacity=2, status="available")
    await queue.enqueue(HandoffRequest(conversation_id, "ivr", "general", 0, None, {}))
    assert (await queue.claim_next("wang")).conversation_id == conversation_id

    played = await play_clip(desk, token, conversation_id, clip.id)
    assert played.status == 200 and played.content_type == "audio/wav"
    assert abs(seconds_of(played.body) - 1.5) < 0.01

    # As before: another agent, not serving the call, gets the desk's one answer; a supervisor plays it;
    # a clip the conversation does not name plays nothing, even for its agent.
    other = await agent(desk, "li", ["general"])
    refused = await play_clip(desk, other, conversation_id, clip.id)
    assert refused.status == 404 and json.loads(refused.body)["error"] == "error_not_serving"
    boss = await agent(desk, "zhao", ["general"], role=SUPERVISOR)
    assert (await play_clip(desk, boss, conversation_id, clip.id)).status == 200
    stray = CallerClips.from_settings(other_machine).store_clip(tone(8000, 0.5), 8000, "ivr:another-call")
    unnamed = await play_clip(desk, token, conversation_id, stray.id)
    assert unnamed.status == 404 and json.loads(unnamed.body)["error"] == "error_clip"
    heard = await plays_recorded(desk, conversation_id, count=2)
    assert [(e["kind"], e["recording_id"]) for e in heard] == [("caller_clip", clip.id)] * 2, \
        "the agent's and the supervisor's plays are audited, the refused ones are not"


async def test_a_clip_past_its_expiry_no_longer_plays_and_the_pass_deletes_it(desk, queue, kefu_env):
    settings = dataclasses.replace(kefu_env, caller_clip_expiry_s=3600)
    store = RecordingStore(settings.database_url)
    conversation_id = "ivr:MZ00000000000000000000000000000002"
    old = CallerClips.from_settings(settings).store_clip(tone(8000, 0.5), 8000, conversation_id)
    recent = CallerClips.from_settings(settings).store_clip(tone(8000, 0.5), 8000, conversation_id)
    two_hours_ago = dt.datetime.utcnow() - dt.timedelta(hours=2)
    with store.engine.begin() as conn:  # recorded two hours ago, an hour past its expiry
        conn.execute(recordings.update().where(recordings.c.id == old.id)
                     .values(created_at=two_hours_ago, expires_at=two_hours_ago + dt.timedelta(hours=1)))
    desk.conversations.clips[conversation_id] = [old.id, recent.id]
    boss = await agent(desk, "zhao", ["general"], role=SUPERVISOR)

    expired = await play_clip(desk, boss, conversation_id, old.id)
    assert expired.status == 404 and json.loads(expired.body)["error"] == "error_clip"
    assert tidy(settings, store) == (0, 1)
    with store.engine.connect() as conn:
        assert {r.id for r in conn.execute(sa.select(recordings.c.id))} == {recent.id}
    assert (await play_clip(desk, boss, conversation_id, recent.id)).status == 200  # still within its hour


async def test_recordings_an_earlier_version_left_on_disk_are_imported_once_and_play_everywhere(
        desk, kefu_env, other_machine):
    """An upgraded machine's files: served from its disk until its first pass, then from the database
    (for every machine), and gone from its disk; a clip already past its expiry is only deleted."""
    clips_dir = other_machine.data_dir / CLIPS_DIR
    clips_dir.mkdir()
    kept, stale = "a" * 32, "b" * 32
    (clips_dir / f"{kept}.wav").write_bytes(pcm_to_wav_bytes(tone(8000, 1.0), 8000))
    (clips_dir / f"{stale}.wav").write_bytes(pcm_to_wav_bytes(tone(8000, 1.0), 8000))
    eight_days_ago = time.time() - 8 * 24 * 3600
    os.utime(clips_dir / f"{stale}.wav", (eight_days_ago, eight_days_ago))
    conversation_id = "ivr:MZ00000000000000000000000000000003"
    desk.conversations.clips[conversation_id] = [kept, stale]
    boss = await agent(desk, "zhao", ["general"], role=SUPERVISOR)
    assert (await play_clip(desk, boss, conversation_id, kept)).status == 404  # on the other machine's disk only

    assert tidy(other_machine) == (1, 1)
    assert list(clips_dir.iterdir()) == []
    played = await play_clip(desk, boss, conversation_id, kept)
    assert played.status == 200 and abs(seconds_of(played.body) - 1.0) < 0.01
    assert (await play_clip(desk, boss, conversation_id, stale)).status == 404
    assert tidy(other_machine) == (0, 0)  # once


async def test_a_clip_the_database_does_not_take_is_kept_on_disk_and_imported_later(kefu_env, other_machine):
    clips = CallerClips.from_settings(other_machine)
    clips.store = RecordingStore(other_machine.database_url)
    clips.store.engine = sa.create_engine(f"postgresql://kefu:x@127.0.0.1:{free_port()}/kefu")  # nothing listens
    clip = clips.store_clip(tone(8000, 1.0), 8000, "ivr:MZ00000000000000000000000000000004")
    assert (other_machine.data_dir / CLIPS_DIR / f"{clip.id}.wav").is_file()

    assert tidy(other_machine) == (1, 0)  # the database is back
    assert RecordingStore(kefu_env.database_url).get(clip.id, CALLER_CLIP) is not None


def test_a_recording_over_the_limit_is_refused_before_it_is_written(kefu_env):
    store = RecordingStore(kefu_env.database_url)
    with pytest.raises(RecordingTooLarge):
        store.save(recording_id="c" * 32, kind=CALLER_CLIP, conversation_id="ivr:x",
                   audio=b"\0" * (MAX_RECORDING_BYTES + 1))
    assert store.get("c" * 32, CALLER_CLIP) is None
    # The longest voice message (120 s, stored at 16 kHz) fits.
    assert 120 * 16000 * 2 + 44 <= MAX_RECORDING_BYTES


async def test_a_voice_messages_recording_is_deleted_a_while_after_its_work_item_is_done(desk, other_machine,
                                                                                       kefu_env, tmp_path):
    """A privacy audit found a finished work item's recording kept for ever, though no desk plays it."""
    message = tmp_path / "message.wav"
    message.write_bytes(pcm_to_wav_bytes(tone(16000, 1.0), 16000))
    ticket_id = leave_voice_message(other_machine, message)
    ticket = desk.repository.get_ticket(ticket_id)
    message_id = ticket["details"]["voice_message_id"]
    skill = desk.queue.rules.ticket_skill(ticket["kind"], named_skill(ticket), fault_of(ticket))
    await agent(desk, "wang", [skill])
    store = RecordingStore(desk.repository.url)
    week_later = dt.datetime.utcnow() + dt.timedelta(days=8)
    store.prune(now=week_later)
    assert store.get(message_id, "voice_message", now=week_later) is not None, "kept while the item is open"

    await desk.finish_work_item("wang", ticket_id, "已回电")
    assert store.get(message_id, "voice_message") is not None, "kept a while after, as KEFU_VOICE_MESSAGE_EXPIRY_SECONDS says"
    assert store.prune(now=week_later) >= 1
    assert store.get(message_id, "voice_message") is None
