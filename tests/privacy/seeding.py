"""Two demo customers with data in every store a request must reach (database, Redis, files)."""
from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from pathlib import Path

import redis

from bot.db.repository import Repository, engine_for
from bot.db.schema import channel_bindings, contacts
from bot.ivr.caller_clips import CLIP_KEY
from bot.outcomes.events import outcome_event
from bot.outcomes.store import write_events
from tests.analytics.event_log import fixture_log

SPOKEN = "张伟您好，您本月账单为79元。"
OTP_TEXT = "您的验证码是219178"
NOTE = "客户张伟情绪激动，住址光明大道88号1201，电话13800000001"
OTHER_NOTE = "客户李娜要求周末上门"


@dataclass
class Seeded:
    ticket: str
    voice_ticket: str
    voice_id: str
    voice_audio: bytes
    clip_id: str  # a clip still in this instance's folder (not imported into the database yet)
    db_clip_id: str  # a clip in the shared database
    speech_file: Path
    other_ticket: str
    settings: object = None

    def recording_kept(self, kind: str, recording_id: str) -> bool:
        """Whether the recording is still anywhere: the shared database or this instance's folder."""
        from bot.db.recordings import RecordingStore, local_file

        return (RecordingStore(self.settings.database_url).get(recording_id, kind) is not None
                or local_file(self.settings.data_dir, kind, recording_id) is not None)

    def voice_kept(self) -> bool:
        return self.recording_kept("voice_message", self.voice_id)

    def clips_kept(self) -> bool:
        return self.recording_kept("caller_clip", self.clip_id) or self.recording_kept("caller_clip", self.db_clip_id)


def seed(settings, client: redis.Redis) -> Seeded:
    """Customer 1 (张伟, 13800000001) and customer 2 (李娜, 13800000002).

    The analytics log is the report tests' (customer 1: contacts ``w1`` by web chat and ``ivr:f1`` by
    phone; customer 2: ``ivr:c1`` and ``w2``), so the KPI report can be compared before and after.
    """
    repository = Repository(settings.database_url)
    write_events(engine_for(settings.database_url), [
        outcome_event(e["conversation_id"], e["kind"], channel=e["channel"], customer=e["customer"], at=e["at"],
                      **e["data"]) for e in fixture_log()])
    ticket = repository.create_ticket(kind="fault", customer_id=1, summary="电视没有信号，张伟家里",
                                      details={"fault_type": "tv_no_signal", "skill": "tv", "phone": "13800000001"},
                                      channel="webchat", conversation_id="w1")
    repository.note_ticket(ticket, NOTE)
    repository.move_ticket(ticket, "assigned", "张伟的电视已派单")
    voice_id = uuid.uuid4().hex
    voice_audio = b"RIFF-voice-of-zhang-wei"
    repository.add_voice_message(message_id=voice_id, audio=voice_audio, conversation_id=f"voicemail-{voice_id}",
                                 duration_s=3.0, caller_phone="13800000001", customer_id=1, channel="ivr")
    voice_ticket = repository.create_ticket(
        kind="voice_message", customer_id=1, summary="语音留言：宽带断了",
        details={"voice_message_id": voice_id, "transcript": "我是张伟宽带断了", "reason": "low_confidence",
                 "customer": {"name": "张伟", "address": "光明大道88号", "phone": "13800000001",
                              "account_number": "8800000001", "balance_cents": -5000}},
        channel="ivr", conversation_id=f"voicemail-{voice_id}", needs_human=True)
    repository.add_outbound(channel="sms", recipient="13800000001", kind="otp", payload={"text": OTP_TEXT})
    repository.add_outbound(channel="sms", recipient="13800000002", kind="otp", payload={"text": "您的验证码是555111"})
    other_ticket = repository.create_ticket(kind="visit", customer_id=2, summary="李娜预约上门",
                                            details={"skill": "broadband", "name": "李娜"},
                                            channel="ivr", conversation_id="ivr:c1")
    repository.note_ticket(other_ticket, OTHER_NOTE)
    now = dt.datetime.utcnow()
    with repository.engine.begin() as conn:
        conn.execute(contacts.insert().values(dedupe_key=f"followup:{ticket}", purpose="followup", customer_id=1,
                                              phone="13800000001", ticket_id=ticket, channels=["phone"], due_at=now))
        conn.execute(contacts.insert().values(dedupe_key=f"followup:{other_ticket}", purpose="followup",
                                              customer_id=2, phone="13800000002", ticket_id=other_ticket,
                                              channels=["phone"], due_at=now))
        conn.execute(channel_bindings.insert().values(channel="wechat", external_id="oZhangWei01", customer_id=1))

    clip_id = uuid.uuid4().hex
    clip_dir = settings.data_dir / "caller_clips"
    clip_dir.mkdir(parents=True, exist_ok=True)
    (clip_dir / f"{clip_id}.wav").write_bytes(b"RIFF-clip")
    db_clip_id = uuid.uuid4().hex
    from bot.db.recordings import CALLER_CLIP, RecordingStore

    RecordingStore(settings.database_url).save(recording_id=db_clip_id, kind=CALLER_CLIP, conversation_id="ivr:f1",
                                              audio=b"RIFF-clip-in-db")
    _tracker(client, "w1", [{"event": "user", "text": "我叫张伟，电视没信号"}, {"event": "bot", "text": SPOKEN}])
    _tracker(client, "ivr:f1", [{"event": "user", "text": "查账单", "metadata": {CLIP_KEY: {"id": clip_id, "seconds": 1.0}}},
                                {"event": "user", "text": "嗯", "metadata": {CLIP_KEY: {"id": db_clip_id, "seconds": 1.0}}}])
    _tracker(client, "ivr:c1", [{"event": "user", "text": "我是李娜"}])
    client.hset("kefu:handoff:conv:w1", mapping={"state": "waiting", "request": json.dumps({"phone": "13800000001"})})
    client.set("kefu:handoff:conv:w1:selfhelp", "[]")
    client.zadd("kefu:handoff:queue:tv", {"w1": 1.0, "ivr:c1": 2.0})
    client.hset("kefu:verify:code:w1", mapping={"asked": "13800000001"})
    client.hset("kefu:handoff:conv:ivr:c1", mapping={"state": "waiting"})

    from voice.speakable import speakable
    from voice.tts import Pyttsx3Engine

    speech_file = Pyttsx3Engine.from_settings(settings).cache_path(speakable(SPOKEN), 8000)
    speech_file.parent.mkdir(parents=True, exist_ok=True)
    speech_file.write_bytes(b"RIFF-spoken")
    return Seeded(ticket, voice_ticket, voice_id, voice_audio, clip_id, db_clip_id, speech_file, other_ticket, settings)


def _tracker(client: redis.Redis, conversation_id: str, events: list[dict]) -> None:
    client.rpush(f"kefu:events:{conversation_id}", *(json.dumps(e, ensure_ascii=False) for e in events))
    client.expire(f"kefu:events:{conversation_id}", 30 * 24 * 3600)
