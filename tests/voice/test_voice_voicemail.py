"""Voice messages end to end: real clips in the formats channels deliver, the real Rasa NLU
on the trained model, a real database per test; only the recogniser is scripted (no Vosk
model can be downloaded here), except in the Vosk-backed test at the end."""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import io
import os
import socket
import subprocess
import sys
import wave
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.contacts.planner import Planner
from bot.contacts.rules import load_rules as load_contact_rules
from bot.contacts.schedule import Schedule
from bot.db.recordings import VOICE_MESSAGE, RecordingStore
from bot.db.repository import Repository
from bot.ledger.ledger import build_items
from bot.ledger.rules import load_rules as load_ledger_rules
from bot.db.schema import conversation_events, outbox, tickets, voice_messages
from bot.notify import Notifier, NotifyError
from tests.conftest import PROJECT_ROOT
from tests.speech import spoken
from tests.voice.scripted_asr import ScriptedAsrEngineForTests
from tests.voice.voice_helpers import fake_model, run_tool
from voice import commands
from voice.errors import AudioError, VoicemailConfigError
from voice.pcm import pcm_to_wav_bytes
from voice.vosk_engine import VoskEngine
from voice.voicemail import LocalRasaNlu, RasaHttpNlu, VoicemailPipeline, load_policy

PLAIN_CUSTOMER = "13800000001"  # vip_tier 0
VIP_CUSTOMER = "13800000002"  # vip_tier 2


# -- fixtures ------------------------------------------------------------------
@pytest.fixture(scope="module")
def local_nlu(trained_model):
    """The real NLU on the trained model, loaded once for the module (~10-20 s)."""
    nlu = LocalRasaNlu(trained_model)
    nlu.load()
    yield nlu
    nlu.close()


@pytest.fixture
def env(kefu_env):
    """Isolated data dir + seeded database, and no Vosk model configured."""
    return dataclasses.replace(kefu_env, vosk_model_path=None)


@pytest.fixture
def repo(env):
    return Repository(env.database_url)


@pytest.fixture
def amr_clip(tmp_path, first_clip) -> Path:
    """A real clip as WeChat sends voice messages: AMR-NB, 8 kHz."""
    target = tmp_path / "message.amr"
    run_tool("sox", first_clip, "-r", "8000", "-c", "1", "-t", "amr-nb", target)
    return target


@pytest.fixture
def mp3_clip(tmp_path, first_clip) -> Path:
    target = tmp_path / "message.mp3"
    run_tool("ffmpeg", "-i", first_clip, "-ac", "1", "-ar", "22050", "-b:a", "48k", target)
    return target


def pipeline(env, nlu, asr) -> VoicemailPipeline:
    return VoicemailPipeline.from_settings(env, nlu=nlu, asr=asr)


def rows(repo: Repository, table) -> list[dict]:
    with repo.engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(table)).mappings()]


def clip_seconds(path: Path | io.BytesIO) -> float:
    with wave.open(str(path) if isinstance(path, Path) else path) as wav:
        return wav.getnframes() / wav.getframerate()


def recording(settings, message_id: str) -> bytes:
    """A voice message's stored WAV, as the desk reads it."""
    stored = RecordingStore(settings.database_url).get(message_id, VOICE_MESSAGE)
    assert stored is not None and stored.content_type == "audio/wav"
    return stored.audio


# -- routing with the real NLU ------------------------------------------------
async def test_fault_message_in_amr_is_stored_and_answered_with_selfhelp(env, repo, local_nlu, amr_clip,
                                                                         first_clip):
    asr = ScriptedAsrEngineForTests("我家电视没信号了", 0.9)
    outcome = await pipeline(env, local_nlu, asr).handle_file(amr_clip, caller_phone=PLAIN_CUSTOMER)

    assert (outcome.outcome, outcome.intent, outcome.selfhelp_entry_id) == ("selfhelp_sent", "fault_tv", "tv_no_signal")
    assert outcome.intent_confidence >= 0.5 and not outcome.needs_human
    # The audio: a 16 kHz mono WAV in the shared database (every instance's desk plays it), as long as
    # the clip; nothing on this machine's disk.
    audio = recording(env, outcome.message_id)
    with wave.open(io.BytesIO(audio)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (16000, 1, 2)
    assert abs(clip_seconds(io.BytesIO(audio)) - clip_seconds(first_clip)) < 0.1
    assert not (env.data_dir / "voicemail").exists()
    assert asr.fed == [(16000, round(outcome.duration_s * 16000) * 2)]
    # The record, the ticket and the queued reply.
    stored = repo.get_voice_message(outcome.message_id)
    assert stored["transcript"] == "我家电视没信号了" and stored["intent"] == "fault_tv"
    assert stored["outcome"] == "selfhelp_sent" and stored["ticket_id"] == outcome.ticket_id
    assert stored["customer_id"] == 1 and stored["channel"] == "ivr" and stored["asr_confidence"] == 0.9
    ticket = repo.get_ticket(outcome.ticket_id)
    assert (ticket["kind"], ticket["priority"], ticket["needs_human"]) == ("voice_message", 0, 0)
    assert ticket["details"]["selfhelp_entry"] == "tv_no_signal"
    assert ticket["details"]["voice_message_id"] == outcome.message_id
    assert ticket["conversation_id"] == f"voicemail-{outcome.message_id}"
    [queued] = repo.outbound()
    assert (queued["channel"], queued["recipient"], queued["kind"]) == ("sms", PLAIN_CUSTOMER, "selfhelp")
    assert queued["payload"]["entry_id"] == "tv_no_signal"
    assert "电视显示“无信号”怎么办" in queued["payload"]["text"]
    assert "1. 检查机顶盒电源灯" in queued["payload"]["text"]
    events = repo.events_for(f"voicemail-{outcome.message_id}")
    assert [e["kind"] for e in events] == ["voicemail_received", "voicemail_routed"]
    assert events[1]["data"]["outcome"] == "selfhelp_sent"
    assert PLAIN_CUSTOMER not in str(events)


async def test_selfhelp_reply_goes_back_on_a_text_channel(env, repo, local_nlu, amr_clip):
    asr = ScriptedAsrEngineForTests("家里宽带连不上网了", 0.8)
    outcome = await pipeline(env, local_nlu, asr).handle_file(
        amr_clip, caller_phone="o-wechat-openid", channel="wechat")
    assert outcome.outcome == "selfhelp_sent" and outcome.intent == "fault_broadband"
    assert outcome.customer_id is None
    [queued] = repo.outbound()
    assert (queued["channel"], queued["recipient"]) == ("wechat", "o-wechat-openid")


async def test_complaint_in_mp3_opens_a_priority_2_complaint(env, repo, local_nlu, mp3_clip):
    asr = ScriptedAsrEngineForTests("我要投诉，你们的服务太差了", 0.85)
    outcome = await pipeline(env, local_nlu, asr).handle_file(mp3_clip, caller_phone=PLAIN_CUSTOMER)
    assert (outcome.outcome, outcome.intent) == ("ticket", "complaint")
    ticket = repo.get_ticket(outcome.ticket_id)
    assert (ticket["kind"], ticket["priority"], ticket["needs_human"]) == ("complaint", 2, 1)
    assert ticket["customer_id"] == 1
    assert repo.outbound() == []


@pytest.mark.parametrize("caller, priority", [(PLAIN_CUSTOMER, 1), (VIP_CUSTOMER, 2), ("13999999999", 1)])
async def test_callback_request_becomes_callback_ticket_with_vip_priority(env, repo, local_nlu, first_clip,
                                                                          caller, priority):
    asr = ScriptedAsrEngineForTests("请让客服给我回电话", 0.9)
    outcome = await pipeline(env, local_nlu, asr).handle_bytes(first_clip.read_bytes(), "wav",
                                                               caller_phone=caller)
    assert (outcome.outcome, outcome.intent) == ("callback", "leave_message")
    ticket = repo.get_ticket(outcome.ticket_id)
    assert (ticket["kind"], ticket["priority"], ticket["needs_human"]) == ("voice_message", priority, 1)


async def test_visit_request_becomes_visit_ticket(env, repo, local_nlu, first_clip):
    asr = ScriptedAsrEngineForTests("帮我预约师傅上门", 0.9)
    outcome = await pipeline(env, local_nlu, asr).handle_file(first_clip, caller_phone=VIP_CUSTOMER)
    ticket = repo.get_ticket(outcome.ticket_id)
    assert (outcome.outcome, ticket["kind"], ticket["priority"], ticket["needs_human"]) == ("ticket", "visit", 1, 0)


# -- nothing is dropped ------------------------------------------------------------
async def test_empty_transcript_goes_to_a_person_with_the_audio(env, repo, local_nlu, amr_clip):
    outcome = await pipeline(env, local_nlu, ScriptedAsrEngineForTests("", 0.0)).handle_file(
        amr_clip, caller_phone=PLAIN_CUSTOMER)
    assert (outcome.outcome, outcome.reason, outcome.needs_human) == ("needs_human", "empty_transcript", True)
    assert outcome.intent is None
    ticket = repo.get_ticket(outcome.ticket_id)
    assert (ticket["kind"], ticket["needs_human"]) == ("voice_message", 1)
    assert recording(env, ticket["details"]["voice_message_id"])[:4] == b"RIFF"
    assert repo.get_voice_message(outcome.message_id)["needs_human"] == 1


async def test_low_asr_confidence_goes_to_a_person(env, repo, local_nlu, amr_clip):
    asr = ScriptedAsrEngineForTests("我家电视没信号了", 0.3)
    outcome = await pipeline(env, local_nlu, asr).handle_file(amr_clip, caller_phone=PLAIN_CUSTOMER)
    assert (outcome.outcome, outcome.reason) == ("needs_human", "low_asr_confidence")
    assert outcome.intent == "fault_tv"  # kept as a hint for the person who listens
    assert repo.outbound() == []
    assert repo.get_ticket(outcome.ticket_id)["details"]["transcript"] == "我家电视没信号了"


async def test_low_intent_confidence_goes_to_a_person(env, repo, local_nlu, first_clip, transcripts):
    # The clip's real words are not about cable TV at all: the real NLU falls back.
    asr = ScriptedAsrEngineForTests(transcripts[first_clip.name], 0.9)
    outcome = await pipeline(env, local_nlu, asr).handle_file(first_clip, caller_phone=PLAIN_CUSTOMER)
    assert (outcome.outcome, outcome.reason) == ("needs_human", "low_intent_confidence")
    assert outcome.intent_confidence < 0.5
    assert repo.get_ticket(outcome.ticket_id)["needs_human"] == 1


async def test_unusable_vosk_model_still_stores_and_flags(env, repo, local_nlu, amr_clip, tmp_path):
    broken = VoskEngine(fake_model(tmp_path / "model"))  # complete layout, unloadable files
    outcome = await pipeline(env, local_nlu, broken).handle_file(amr_clip, caller_phone=PLAIN_CUSTOMER)
    assert (outcome.outcome, outcome.reason, outcome.needs_human) == ("needs_human", "asr_unavailable", True)
    assert outcome.transcript is None and recording(env, outcome.message_id)
    stored = repo.get_voice_message(outcome.message_id)
    assert stored["outcome"] == "needs_human" and stored["transcript"] is None
    assert repo.get_ticket(outcome.ticket_id)["details"]["reason"] == "asr_unavailable"


async def test_no_vosk_model_configured_still_stores_and_flags(env, repo, local_nlu, amr_clip):
    outcome = await pipeline(env, local_nlu, None).handle_file(amr_clip, caller_phone=PLAIN_CUSTOMER)
    assert (outcome.outcome, outcome.reason) == ("needs_human", "asr_unavailable")
    assert [r["id"] for r in rows(repo, voice_messages)] == [outcome.message_id]


async def test_a_message_for_a_person_is_a_voice_message_in_the_ledger_not_a_live_callback(env, repo, local_nlu,
                                                                                            amr_clip):
    """Found by a tester: the ledger filed it as a `callback` due in 1 hour, and the contact schedule
    then queued it live, so an agent claimed an empty conversation and greeted nobody."""
    outcome = await pipeline(env, local_nlu, None).handle_file(amr_clip, caller_phone="13900000123")
    ledger_rules = load_ledger_rules(env.content_dir / "ledger.yml")
    [item] = [i for i in build_items([repo.get_ticket(outcome.ticket_id)], {}, ledger_rules, dt.datetime.utcnow())
              if i.ticket_id == outcome.ticket_id]
    assert item.kind == "voice_message"
    assert item.due_at - item.registered_at == dt.timedelta(hours=ledger_rules.due_hours["voice_message"]["acted_on"])
    Planner(repo, load_contact_rules(env.content_dir / "contacts.yml"), ledger_rules).plan(dt.datetime.utcnow())
    assert Schedule(repo).listing(purpose="callback") == []


async def test_unreachable_rasa_server_still_stores_and_flags(env, repo, amr_clip):
    nlu = RasaHttpNlu(closed_port_url(), timeout=2)
    asr = ScriptedAsrEngineForTests("我家电视没信号了", 0.9)
    outcome = await pipeline(env, nlu, asr).handle_file(amr_clip, caller_phone=PLAIN_CUSTOMER)
    assert (outcome.outcome, outcome.reason) == ("needs_human", "nlu_unavailable")
    assert outcome.transcript == "我家电视没信号了"


class FailingNotifierForTests(Notifier):
    async def send_selfhelp(self, to, channel, entry, *, voice_message_id=None) -> None:
        raise NotifyError("outbox unavailable")


async def test_selfhelp_that_cannot_be_queued_goes_to_a_person(env, repo, local_nlu, amr_clip):
    flow = VoicemailPipeline.from_settings(env, nlu=local_nlu, notifier=FailingNotifierForTests(),
                                           asr=ScriptedAsrEngineForTests("我家电视没信号了", 0.9))
    outcome = await flow.handle_file(amr_clip, caller_phone=PLAIN_CUSTOMER)
    assert (outcome.outcome, outcome.reason) == ("needs_human", "notify_failed")
    assert repo.get_ticket(outcome.ticket_id)["needs_human"] == 1


@pytest.mark.parametrize("reason", ["opt_out", "dnd"])
async def test_selfhelp_held_back_for_an_opted_out_caller_tells_the_agent_why(env, repo, local_nlu, amr_clip, reason):
    """Found in review: the self-help reply held back by the caller's opt-out reached the agent as "the SMS could not
    be sent", as if the gateway had failed, and an agent would text them. The work item's reason says which, in the
    desk's words."""
    import json

    Schedule(repo).block(f"phone:{PLAIN_CUSTOMER}", reason, "cli")
    flow = VoicemailPipeline.from_settings(env, nlu=local_nlu, asr=ScriptedAsrEngineForTests("我家电视没信号了", 0.9))
    outcome = await flow.handle_file(amr_clip, caller_phone=PLAIN_CUSTOMER)
    assert (outcome.outcome, outcome.reason) == ("needs_human", f"notify_withheld_{reason}")
    ticket = repo.get_ticket(outcome.ticket_id)
    assert ticket["needs_human"] == 1 and ticket["details"]["reason"] == f"notify_withheld_{reason}"
    assert [r for r in rows(repo, outbox) if r["channel"] in ("sms", "wechat")] == [], "nothing was texted"
    desk = json.loads((env.content_dir / "ui" / "agent_desk.zh.json").read_text(encoding="utf-8"))
    worded = desk[f"reason_voicemail_notify_withheld_{reason}"]
    assert worded != desk["reason_voicemail_notify_failed"] and "短信" in worded


async def test_selfhelp_held_back_when_sent_puts_the_message_in_front_of_an_agent(env, repo, local_nlu, amr_clip):
    """Found in review: a caller who opted out after the self-help reply was queued and before the outbox worker sent
    it got no reply, yet the message stayed "self-help sent" with a ticket no agent works: nobody heard it. As when
    the opt-out is known when the reply is queued, it goes to a person; its recording is kept for them."""
    from bot.contacts.optout import opt_out
    from bot.outbound.sms import SmsGateway
    from bot.outbound.worker import deliver_pending
    from bot.ticket_notes import history_line
    from tests.sms_loopback import sms_loopback

    flow = VoicemailPipeline.from_settings(env, nlu=local_nlu, asr=ScriptedAsrEngineForTests("我家电视没信号了", 0.9))
    outcome = await flow.handle_file(amr_clip, caller_phone=PLAIN_CUSTOMER)
    assert outcome.outcome == "selfhelp_sent" and not outcome.needs_human
    await opt_out(repo.url, [f"phone:{PLAIN_CUSTOMER}"], conversation_id="td", channel="sms", via="reply")
    async with sms_loopback() as (received, base_url):
        counts = await deliver_pending(repo, {"sms": SmsGateway(base_url, "k", "Kefu")}, now=dt.datetime.utcnow())
    assert received == [] and counts["withheld"] == 1, "the caller opted out: not texted"

    stored = repo.get_voice_message(outcome.message_id)
    assert (stored["outcome"], stored["needs_human"]) == ("needs_human", 1)
    work_item = repo.get_ticket(stored["ticket_id"])
    assert work_item["ticket_id"] == outcome.ticket_id and work_item["needs_human"] == 1  # its self-help ticket
    assert work_item["details"]["reason"] == "notify_withheld_opt_out", "the agent knows not to text them"
    assert work_item["details"]["voice_message_id"] == outcome.message_id and work_item["details"]["handoff"]
    assert work_item["details"]["transcript"] == "我家电视没信号了"
    ledger_rules = load_ledger_rules(env.content_dir / "ledger.yml")
    assert [i.kind for i in build_items([work_item], {}, ledger_rules, dt.datetime.utcnow())] == ["voice_message"]
    store = RecordingStore(env.database_url)
    store.prune(now=dt.datetime.utcnow() + dt.timedelta(seconds=env.voice_message_expiry_s + 60))
    assert store.get(outcome.message_id, VOICE_MESSAGE) is not None, "kept until the agent has handled it"
    # The ticket says the reply never went, and that a person has the message now.
    notes = [history_line(row["note"]) for row in repo.ticket_history(outcome.ticket_id)]
    assert any(work_item["ticket_id"] in note for note in notes), notes
    routed = [e["data"] for e in repo.events_for(f"voicemail-{outcome.message_id}") if e["kind"] == "voicemail_routed"]
    assert [r["outcome"] for r in routed] == ["selfhelp_sent", "needs_human"]
    # Once handed on, a later pass changes nothing (the row is withheld for good).
    again = await deliver_pending(repo, {"sms": SmsGateway(base_url, "k", "Kefu")}, now=dt.datetime.utcnow())
    assert again["withheld"] == 0 and repo.get_voice_message(outcome.message_id)["ticket_id"] == work_item["ticket_id"]


async def test_a_reply_held_back_before_its_message_is_routed_waits_for_the_routing(env, repo):
    """The worker may come to the reply in the moment between its queueing and the pipeline's record of the message
    as "self-help sent": it tries the reply again later (held back again then, and the message handed on) rather
    than withhold it while nobody would hand the message to a person."""
    from bot.contacts.optout import opt_out
    from bot.notify import OutboxNotifier
    from bot.outbound.sms import SmsGateway
    from bot.outbound.worker import deliver_pending
    from bot.selfhelp import load_catalogue
    from tests.sms_loopback import sms_loopback

    repo.add_voice_message(message_id="m1", audio=pcm_to_wav_bytes(b"\0\0" * 16000, 16000),
                           conversation_id="voicemail-m1", duration_s=1.0, caller_phone=PLAIN_CUSTOMER, customer_id=1,
                           channel="ivr")
    entry = load_catalogue(env.content_dir / "selfhelp.yml").entries["tv_no_signal"]
    await OutboxNotifier.from_settings(env, repo).send_selfhelp(PLAIN_CUSTOMER, "sms", entry, voice_message_id="m1")
    await opt_out(repo.url, [f"phone:{PLAIN_CUSTOMER}"], conversation_id="td", channel="sms", via="reply")
    now = dt.datetime.utcnow()
    async with sms_loopback() as (received, base_url):
        gateway = {"sms": SmsGateway(base_url, "k", "Kefu")}
        early = await deliver_pending(repo, gateway, now=now)
        assert (early["retry"], early["withheld"]) == (1, 0), "not withheld while the message is not routed"
        selfhelp = repo.create_ticket(kind="voice_message", customer_id=1, summary="自助", conversation_id="voicemail-m1")
        repo.update_voice_message("m1", outcome="selfhelp_sent", ticket_id=selfhelp)  # the pipeline's record
        later = await deliver_pending(repo, gateway, now=now + dt.timedelta(minutes=5))
    assert later["withheld"] == 1 and received == []
    stored = repo.get_voice_message("m1")
    assert stored["outcome"] == "needs_human" and stored["ticket_id"] == selfhelp  # now a person's work item
    assert repo.get_ticket(stored["ticket_id"])["details"]["reason"] == "notify_withheld_opt_out"


async def selfhelp_answered(env, repo, message_id: str = "m1", *, opting_out: bool = True) -> str:
    """A voice message answered with self-help as the pipeline records one (stored, its reply queued, its self-help
    ticket open), whose caller then opts out (unless not ``opting_out``); the self-help ticket's id."""
    from bot.contacts.optout import opt_out
    from bot.notify import OutboxNotifier
    from bot.selfhelp import load_catalogue

    repo.add_voice_message(message_id=message_id, audio=pcm_to_wav_bytes(b"\0\0" * 16000, 16000),
                           conversation_id=f"voicemail-{message_id}", duration_s=1.0, caller_phone=PLAIN_CUSTOMER,
                           customer_id=1, channel="ivr")
    entry = load_catalogue(env.content_dir / "selfhelp.yml").entries["tv_no_signal"]
    await OutboxNotifier.from_settings(env, repo).send_selfhelp(PLAIN_CUSTOMER, "sms", entry,
                                                                voice_message_id=message_id)
    selfhelp = repo.create_ticket(kind="voice_message", customer_id=1, summary="自助", channel="ivr",
                                  details={"voice_message_id": message_id, "reason": "fault_tv"},
                                  conversation_id=f"voicemail-{message_id}")
    repo.update_voice_message(message_id, outcome="selfhelp_sent", ticket_id=selfhelp, intent="fault_tv",
                              transcript="我家电视没信号了", intent_confidence=0.9)
    if opting_out:
        await opt_out(repo.url, [f"phone:{PLAIN_CUSTOMER}"], conversation_id="td", channel="sms", via="reply")
    return selfhelp


def tickets_of_message(repo, message_id: str = "m1", *, open_only: bool = False) -> list[dict]:
    return repo.tickets_for(None, open_only=open_only, conversation_id=f"voicemail-{message_id}")


def noted(repo, ticket_id: str, kind: str) -> list[dict]:
    from bot.ticket_notes import history_entry

    entries = [history_entry(row["note"]) or {} for row in repo.ticket_history(ticket_id)]
    return [entry for entry in entries if entry.get("kind") == kind]


async def test_a_message_handed_on_after_its_reply_was_held_back_is_one_ticket_a_person_works(env, repo):
    """Found in review: the message handed on got a work item beside its self-help ticket, which stayed open (an
    item of the ledger going overdue) with nobody to close it: two open tickets for one message. The self-help ticket
    becomes the person's work item, saying why; one ticket number stands for the message."""
    from bot.handoff.tickets import work_items
    from bot.outbound.sms import SmsGateway
    from bot.outbound.worker import deliver_pending
    from tests.sms_loopback import sms_loopback

    selfhelp = await selfhelp_answered(env, repo)
    async with sms_loopback() as (received, base_url):
        counts = await deliver_pending(repo, {"sms": SmsGateway(base_url, "k", "Kefu")}, now=dt.datetime.utcnow())
    assert counts["withheld"] == 1 and received == []

    [open_one] = tickets_of_message(repo, open_only=True)
    assert open_one["ticket_id"] == selfhelp == repo.get_voice_message("m1")["ticket_id"]
    assert open_one["needs_human"] == 1 and open_one["details"]["reason"] == "notify_withheld_opt_out"
    listed = [t["ticket_id"] for t in open_one["details"]["handoff"]["open_tickets"]]
    assert selfhelp not in listed, "the agent is not shown the work item as another open ticket of the customer's"
    assert [t["ticket_id"] for t in work_items(lambda t: True) if t["conversation_id"] == "voicemail-m1"] == [selfhelp]
    assert [e["ticket"] for e in noted(repo, selfhelp, "selfhelp_withheld_opt_out")] == [selfhelp]
    ledger_rules = load_ledger_rules(env.content_dir / "ledger.yml")
    assert [i.ticket_id for i in build_items(tickets_of_message(repo), {}, ledger_rules, dt.datetime.utcnow())] \
        == [selfhelp]


async def test_a_message_whose_self_help_ticket_was_closed_gets_a_work_item_of_its_own(env, repo):
    """A self-help ticket no longer open (its steps closed in the ledger) is not reopened as the work item: the
    message gets a new one, which the old ticket names."""
    from bot.outbound.sms import SmsGateway
    from bot.outbound.worker import deliver_pending
    from tests.sms_loopback import sms_loopback

    selfhelp = await selfhelp_answered(env, repo)
    repo.move_ticket(selfhelp, "resolved")
    repo.move_ticket(selfhelp, "customer_told")
    async with sms_loopback() as (received, base_url):
        counts = await deliver_pending(repo, {"sms": SmsGateway(base_url, "k", "Kefu")}, now=dt.datetime.utcnow())
    assert counts["withheld"] == 1 and received == []

    [work_item] = tickets_of_message(repo, open_only=True)
    assert work_item["ticket_id"] != selfhelp and work_item["needs_human"] == 1
    assert repo.get_voice_message("m1")["ticket_id"] == work_item["ticket_id"]
    assert repo.get_ticket(selfhelp)["status"] == "customer_told"
    assert [e["ticket"] for e in noted(repo, selfhelp, "selfhelp_withheld_opt_out")] == [work_item["ticket_id"]]


@contextlib.contextmanager
def ticket_change_fails(engine):
    """While in the block, every change of a voice message's ticket fails in the database itself, with the error a
    database going away gives: a trigger raising SQLite's own error, or PostgreSQL's admin_shutdown."""
    postgres = engine.dialect.name == "postgresql"
    with engine.begin() as conn:
        if postgres:
            conn.exec_driver_sql("CREATE FUNCTION kefu_test_goes_away() RETURNS trigger LANGUAGE plpgsql AS "
                                 "$$ BEGIN RAISE EXCEPTION 'gone' USING ERRCODE = 'admin_shutdown'; END $$")
            conn.exec_driver_sql("CREATE TRIGGER ticket_change_fails BEFORE UPDATE OF ticket_id ON voice_messages "
                                 "FOR EACH ROW EXECUTE FUNCTION kefu_test_goes_away()")
        else:
            conn.exec_driver_sql("CREATE TRIGGER ticket_change_fails BEFORE UPDATE OF ticket_id ON voice_messages "
                                 "BEGIN SELECT json('{broken'); END")
    try:
        yield
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TRIGGER ticket_change_fails" + (" ON voice_messages" if postgres else ""))


async def test_a_database_failure_while_handing_on_files_no_second_work_item(env, repo, monkeypatch):
    """Found in review: the work item was committed, then the message's change failed; the outbox worker tried the
    reply again, and its retry filed a second work item for the same message. The hand-on is one transaction."""
    import bot.db.repository
    from bot.outbound.sms import SmsGateway
    from bot.outbound.worker import deliver_pending
    from tests.sms_loopback import sms_loopback

    monkeypatch.setattr(bot.db.repository, "WRITE_RETRY_S", 0.5)  # the database's failure comes sooner
    await selfhelp_answered(env, repo)
    now = dt.datetime.utcnow()
    async with sms_loopback() as (received, base_url):
        gateway = {"sms": SmsGateway(base_url, "k", "Kefu")}
        with ticket_change_fails(repo.engine):
            first = await deliver_pending(repo, gateway, now=now)
        assert (first["retry"], first["withheld"]) == (1, 0), "tried again: nobody has the message yet"
        later = await deliver_pending(repo, gateway, now=now + dt.timedelta(minutes=5))
    assert later["withheld"] == 1 and received == []

    work = [t["ticket_id"] for t in tickets_of_message(repo) if t["needs_human"]]
    assert work == [repo.get_voice_message("m1")["ticket_id"]], "one work item for the message"


def outbox_status(repo, row_id: int) -> str:
    with repo.engine.connect() as conn:
        return conn.execute(sa.select(outbox.c.status).where(outbox.c.id == row_id)).scalar_one()


async def test_a_reply_the_gateway_refuses_for_good_puts_the_message_in_front_of_an_agent(env, repo, local_nlu,
                                                                                         tmp_path, capsys):
    """Found in review: a self-help reply the outbox gave up on (here the gateway refused the number for good) left
    the message "self-help sent": the caller got no answer and nobody heard what they said. It goes to a person as a
    reply held back does: its self-help ticket becomes the work item, noted, its recording kept. A person's resend
    of the reply is then refused: the agent answers the caller, and a self-help text after would be out of date."""
    from bot.cli import main
    from bot.outbound.sms import SmsGateway
    from bot.outbound.worker import deliver_pending
    from bot.ticket_notes import history_line
    from tests.sms_loopback import sms_loopback

    clip = tmp_path / "message.wav"  # what the caller said is the recogniser's script; the audio only its carrier
    clip.write_bytes(pcm_to_wav_bytes(b"\1\0" * 32000, 16000))
    flow = VoicemailPipeline.from_settings(env, nlu=local_nlu, asr=ScriptedAsrEngineForTests("我家电视没信号了", 0.9))
    outcome = await flow.handle_file(clip, caller_phone=PLAIN_CUSTOMER)
    assert outcome.outcome == "selfhelp_sent" and not outcome.needs_human
    [reply] = repo.outbound(status="pending", channel="sms")
    async with sms_loopback(code=1001) as (received, base_url):  # 1001: a bad number, refused for good
        counts = await deliver_pending(repo, {"sms": SmsGateway(base_url, "k", "Kefu")}, now=dt.datetime.utcnow())
    assert counts["failed"] == 1 and len(received) == 1 and outbox_status(repo, reply["id"]) == "failed"

    stored = repo.get_voice_message(outcome.message_id)
    assert (stored["outcome"], stored["needs_human"]) == ("needs_human", 1)
    [open_one] = tickets_of_message(repo, outcome.message_id, open_only=True)
    assert open_one["ticket_id"] == outcome.ticket_id == stored["ticket_id"] and open_one["needs_human"] == 1
    assert open_one["details"]["reason"] == "notify_undelivered", "the agent is told the reply never reached the caller"
    assert open_one["details"]["transcript"] == "我家电视没信号了" and open_one["details"]["handoff"]
    assert [e["ticket"] for e in noted(repo, outcome.ticket_id, "selfhelp_undelivered")] == [outcome.ticket_id]
    lines = [history_line(row["note"]) for row in repo.ticket_history(outcome.ticket_id)]
    assert any(outcome.ticket_id in line and "selfhelp" not in line for line in lines), lines  # in the agents' words
    store = RecordingStore(env.database_url)
    store.prune(now=dt.datetime.utcnow() + dt.timedelta(seconds=env.voice_message_expiry_s + 60))
    assert store.get(outcome.message_id, VOICE_MESSAGE) is not None, "kept until the agent has handled it"
    routed = [e["data"] for e in repo.events_for(f"voicemail-{outcome.message_id}") if e["kind"] == "voicemail_routed"]
    assert [r["outcome"] for r in routed] == ["selfhelp_sent", "needs_human"]
    assert routed[-1]["reason"] == "notify_undelivered"

    capsys.readouterr()
    assert main(["outbox", "resend", str(reply["id"])]) == 1
    assert "went to a person" in capsys.readouterr().err and outbox_status(repo, reply["id"]) == "failed"
    assert main(["outbox", "resend", "--all-failed"]) == 1, "nor among every failed one"
    assert outbox_status(repo, reply["id"]) == "failed"
    assert [t["ticket_id"] for t in tickets_of_message(repo, outcome.message_id, open_only=True)] == [outcome.ticket_id]


async def test_a_reply_still_waiting_when_a_person_has_its_message_is_never_sent(env, repo):
    """Found in review: only a person's resend asked whether a person has the voice message; the worker sent a reply
    still waiting (its gateway down at first) after the message had gone to a person, and the caller, already in an
    agent's hands, got the self-help text after all. The worker asks the resend's check: the reply is dropped, never
    sent, and no person is asked to resend or drop it."""
    from bot.embedded_redis import free_port
    from bot.outbound.sms import SmsGateway
    from bot.outbound.undelivered import undelivered
    from bot.outbound.worker import deliver_pending
    from tests.sms_loopback import sms_loopback
    from voice.voicemail.withheld_reply import UNDELIVERED, hand_on

    selfhelp = await selfhelp_answered(env, repo, opting_out=False)
    [reply] = repo.outbound(status="pending", channel="sms")
    now = dt.datetime.utcnow()
    down = await deliver_pending(repo, {"sms": SmsGateway(f"http://127.0.0.1:{free_port()}", "k", "Kefu")}, now=now)
    assert down["retry"] == 1 and outbox_status(repo, reply["id"]) == "pending"
    assert await hand_on(repo, "m1", UNDELIVERED) == selfhelp  # a person has the message now

    async with sms_loopback() as (received, base_url):
        for minutes in (5, 10):
            counts = await deliver_pending(repo, {"sms": SmsGateway(base_url, "k", "Kefu")},
                                           now=now + dt.timedelta(minutes=minutes))
            assert counts["sent"] == 0
    assert received == [], "the caller, with a person now, is not sent the self-help text"
    assert outbox_status(repo, reply["id"]) == "dropped"
    assert reply["id"] not in [message.id for message in undelivered(repo)], "nobody is asked to resend or drop it"
    stored = repo.get_voice_message("m1")
    assert (stored["outcome"], stored["ticket_id"]) == ("needs_human", selfhelp), "the person's work item as it was"


async def test_a_reply_given_up_before_its_message_is_routed_hands_the_message_on_once_it_is(env, repo):
    """The gateway may refuse the reply in the moment between its queueing and the pipeline's record of the message
    as "self-help sent": the reply waits, never sent again, and the message goes to a person once routed."""
    from bot.outbound.sms import SmsGateway
    from bot.outbound.worker import deliver_pending
    from tests.sms_loopback import sms_loopback

    selfhelp = await selfhelp_answered(env, repo, opting_out=False)
    repo.update_voice_message("m1", outcome="received")  # as before the pipeline's record
    [reply] = repo.outbound(status="pending", channel="sms")
    now = dt.datetime.utcnow()
    async with sms_loopback(code=1001) as (received, base_url):
        gateway = {"sms": SmsGateway(base_url, "k", "Kefu")}
        await deliver_pending(repo, gateway, now=now)
        assert repo.get_voice_message("m1")["outcome"] == "received" and len(received) == 1
        repo.update_voice_message("m1", outcome="selfhelp_sent")  # the pipeline's record
        for minutes in (5, 10):
            await deliver_pending(repo, gateway, now=now + dt.timedelta(minutes=minutes))
    assert len(received) == 1, "the caller's number was refused: not tried again"
    assert outbox_status(repo, reply["id"]) == "failed"
    stored = repo.get_voice_message("m1")
    assert (stored["outcome"], stored["ticket_id"]) == ("needs_human", selfhelp)
    assert [t["ticket_id"] for t in tickets_of_message(repo, open_only=True) if t["needs_human"]] == [selfhelp]
    assert [e["ticket"] for e in noted(repo, selfhelp, "selfhelp_undelivered")] == [selfhelp]


@pytest.mark.parametrize("given_up", ["not sent within its hour", "sent, then reported not delivered"])
async def test_a_reply_given_up_any_other_way_hands_the_message_on_too(env, repo, given_up):
    """Its hour over with the gateway down, or taken and then reported not delivered (WeChat's report, applied by
    bot/outbound/undelivered.py): the caller got no answer either, and the message goes to a person."""
    from bot.outbound.sms import SmsGateway
    from bot.outbound.undelivered import reported_not_delivered
    from bot.outbound.worker import GIVE_UP_AFTER, deliver_pending
    from tests.sms_loopback import sms_loopback

    selfhelp = await selfhelp_answered(env, repo, opting_out=False)
    [reply] = repo.outbound(status="pending", channel="sms")
    now = dt.datetime.utcnow()
    async with sms_loopback() as (received, base_url):
        gateway = {"sms": SmsGateway(base_url, "k", "Kefu")}
        if given_up == "not sent within its hour":
            counts = await deliver_pending(repo, gateway, now=now + GIVE_UP_AFTER + dt.timedelta(minutes=1))
            assert counts["expired"] == 1 and received == []
        else:
            assert (await deliver_pending(repo, gateway, now=now))["sent"] == 1
            assert repo.get_voice_message("m1")["outcome"] == "selfhelp_sent", "sent: nothing to hand on yet"
            assert reported_not_delivered(repo, f"outbox-{reply['id']}", "undeliverable")
            await deliver_pending(repo, gateway, now=now + dt.timedelta(seconds=10))  # the worker's next pass
            assert len(received) == 1, "not sent again"
    assert outbox_status(repo, reply["id"]) == "failed"
    stored = repo.get_voice_message("m1")
    assert (stored["outcome"], stored["ticket_id"]) == ("needs_human", selfhelp)
    assert [t["ticket_id"] for t in tickets_of_message(repo, open_only=True)] == [selfhelp]
    assert repo.get_ticket(selfhelp)["needs_human"] == 1
    assert [e["ticket"] for e in noted(repo, selfhelp, "selfhelp_undelivered")] == [selfhelp]
    assert repo.get_ticket(selfhelp)["details"]["reason"] == "notify_undelivered"


def test_the_desk_words_an_undelivered_or_dropped_reply_for_any_channel(env):
    """Found in review: the desk read "自助方案短信未能发出" (the SMS could not be sent) for every reply the outbox gave
    up, also a WeChat reply and one sent and then reported not delivered. The undelivered and dropped reasons have
    words of their own, naming no channel; "could not be queued" keeps its own."""
    import json

    desk = json.loads((env.content_dir / "ui" / "agent_desk.zh.json").read_text(encoding="utf-8"))
    worded = [desk[f"reason_voicemail_notify_{reason}"] for reason in ("undelivered", "dropped")]
    assert len({*worded, desk["reason_voicemail_notify_failed"]}) == 3
    assert all("短信" not in text and "微信" not in text for text in worded), worded


def kefu(*argv: str):
    """``kefu argv`` in a thread of its own, as from a terminal: it runs an event loop of its own."""
    from bot.cli import main

    return asyncio.to_thread(main, list(argv))


@pytest.mark.parametrize("waiting", ["to be sent", "to be handed on (GAVE_UP)"])
async def test_dropping_a_self_help_reply_hands_its_message_to_a_person(env, repo, waiting, capsys):
    """Found in review: `kefu outbox drop` of a voice message's self-help reply not sent yet (or waiting, given up, for
    its message to be handed on) dropped it and nothing else: the caller never got an answer and nobody heard the
    message. Dropping the text means "do not send this", not "forget the caller": the message goes to a person in the
    same step, the line says so, and the reply is never sent."""
    from bot.outbound.sms import SmsGateway
    from bot.outbound.worker import deliver_pending
    from tests.sms_loopback import sms_loopback

    selfhelp = await selfhelp_answered(env, repo, opting_out=False)
    [reply] = repo.outbound(status="pending", channel="sms")
    now = dt.datetime.utcnow()
    async with sms_loopback(code=1001) as (received, base_url):  # refused for good, were it sent
        gateway = {"sms": SmsGateway(base_url, "k", "Kefu")}
        if waiting == "to be handed on (GAVE_UP)":  # refused in the moment before the pipeline's record
            repo.update_voice_message("m1", outcome="received")
            await deliver_pending(repo, gateway, now=now)
            assert outbox_status(repo, reply["id"]) == "pending" and len(received) == 1
            repo.update_voice_message("m1", outcome="selfhelp_sent")
        sent_before = len(received)
        capsys.readouterr()
        assert await kefu("outbox", "drop", str(reply["id"])) == 0
        out = capsys.readouterr().out
        for minutes in (5, 10):
            await deliver_pending(repo, gateway, now=now + dt.timedelta(minutes=minutes))
    assert len(received) == sent_before, "never sent after the drop"
    assert outbox_status(repo, reply["id"]) == "dropped"
    assert f"{reply['id']}: dropped, never sent; its voice message m1 handed to a person, ticket {selfhelp}" in out
    stored = repo.get_voice_message("m1")
    assert (stored["outcome"], stored["needs_human"], stored["ticket_id"]) == ("needs_human", 1, selfhelp)
    [open_one] = tickets_of_message(repo, open_only=True)
    assert open_one["ticket_id"] == selfhelp and open_one["needs_human"] == 1
    assert open_one["details"]["reason"] == "notify_dropped", "the agent is told the reply was dropped, never sent"
    assert [e["ticket"] for e in noted(repo, selfhelp, "selfhelp_dropped")] == [selfhelp]


async def test_dropping_every_failed_reply_hands_their_messages_to_a_person(env, repo, capsys):
    """`kefu outbox drop --all-failed` too: a failed self-help reply whose message nobody has yet (one an earlier Kefu
    version gave up) hands the message on as it is dropped, named in the line of those dropped; one whose message a
    person has already is just dropped."""
    await selfhelp_answered(env, repo, "m1", opting_out=False)
    handed = await selfhelp_answered(env, repo, "m2", opting_out=False)
    first, second = sorted(repo.outbound(status="pending", channel="sms"), key=lambda row: row["id"])
    with repo.engine.begin() as conn:  # as an earlier version left them: failed, the messages still "self-help sent"
        conn.execute(outbox.update().where(outbox.c.id.in_([first["id"], second["id"]])).values(status="failed"))
    from voice.voicemail.withheld_reply import UNDELIVERED, hand_on
    assert await hand_on(repo, "m2", UNDELIVERED) == handed  # m2 is with a person already

    capsys.readouterr()
    assert await kefu("outbox", "drop", "--all-failed") == 0
    out = capsys.readouterr().out
    m1 = repo.get_voice_message("m1")
    assert f"{first['id']} (its voice message m1 handed to a person, ticket {m1['ticket_id']})" in out
    assert f"{second['id']} (its voice message m2 is with a person already)" in out
    assert [outbox_status(repo, row["id"]) for row in (first, second)] == ["dropped", "dropped"]
    assert (m1["outcome"], m1["needs_human"]) == ("needs_human", 1)
    assert repo.get_ticket(m1["ticket_id"])["details"]["reason"] == "notify_dropped"
    assert repo.get_ticket(handed)["details"]["reason"] == "notify_undelivered", "handed on once, not again"


async def test_a_reply_whose_message_cannot_be_handed_on_now_is_not_dropped(env, repo, capsys):
    """The message cannot go to a person now (here it is not routed yet): the drop is refused for that reply, which
    stays as it was, so nothing the caller said is lost; dropped once the message can be handed on."""
    await selfhelp_answered(env, repo, opting_out=False)
    repo.update_voice_message("m1", outcome="received")  # as before the pipeline's record
    [reply] = repo.outbound(status="pending", channel="sms")
    with repo.engine.connect() as conn:
        before = conn.execute(sa.select(outbox.c.payload).where(outbox.c.id == reply["id"])).scalar_one()

    capsys.readouterr()
    assert await kefu("outbox", "drop", str(reply["id"])) == 1
    err = capsys.readouterr().err
    assert f"message {reply['id']} cannot be dropped now" in err and "not routed yet" in err
    with repo.engine.connect() as conn:
        after = conn.execute(sa.select(outbox.c.status, outbox.c.payload).where(outbox.c.id == reply["id"])).one()
    assert (after.status, after.payload) == ("pending", before), "left as it was"
    assert repo.get_voice_message("m1")["outcome"] == "received"

    repo.update_voice_message("m1", outcome="selfhelp_sent")  # the pipeline's record
    assert await kefu("outbox", "drop", str(reply["id"])) == 0
    assert outbox_status(repo, reply["id"]) == "dropped"
    assert repo.get_voice_message("m1")["outcome"] == "needs_human"


@pytest.mark.parametrize("name, content, reason", [
    ("broken.mp3", b"\xff\xfb" + bytes(range(256)) * 8, "corrupt"),
    ("broken.amr", b"#!AMR\n" + b"\x00garbage" * 50, "corrupt"),  # sox used to spin on this
    ("empty.wav", b"", "empty"),
    ("message.flac", b"fLaC", "unsupported"),
])
async def test_bad_audio_raises_and_writes_nothing(env, repo, local_nlu, tmp_path, name, content, reason):
    source = tmp_path / name
    source.write_bytes(content)
    flow = pipeline(env, local_nlu, ScriptedAsrEngineForTests("我家电视没信号了"))
    with pytest.raises(AudioError) as caught:
        await flow.handle_file(source, caller_phone=PLAIN_CUSTOMER)
    if reason:
        assert caught.value.reason == reason
    voicemail_dir = env.data_dir / "voicemail"
    assert not voicemail_dir.exists() or list(voicemail_dir.iterdir()) == []
    assert [rows(repo, t) for t in (tickets, conversation_events)] == [[], []]
    repo.create_schema()
    assert rows(repo, voice_messages) == [] and rows(repo, outbox) == []


async def test_too_long_message_is_refused_before_storing(env, repo, local_nlu, first_clip):
    flow = pipeline(env, local_nlu, ScriptedAsrEngineForTests("我家电视没信号了"))
    flow.limits = dataclasses.replace(flow.limits, max_seconds=1.0)
    with pytest.raises(AudioError) as caught:
        await flow.handle_file(first_clip, caller_phone=PLAIN_CUSTOMER)
    assert caught.value.reason == "too_long"
    assert not (env.data_dir / "voicemail").exists()


async def test_messages_are_handled_concurrently_without_mixing(env, repo, local_nlu, first_clip):
    flow = pipeline(env, local_nlu, ScriptedAsrEngineForTests("我要投诉，你们的服务太差了", 0.9))
    outcomes = await asyncio.gather(*(
        flow.handle_file(first_clip, caller_phone=phone) for phone in (PLAIN_CUSTOMER, VIP_CUSTOMER)))
    assert len({o.message_id for o in outcomes}) == 2 and len({o.ticket_id for o in outcomes}) == 2
    assert [repo.get_ticket(o.ticket_id)["priority"] for o in outcomes] == [2, 3]


# -- rules file ------------------------------------------------------------------------
def test_routing_rules_file_is_valid(env):
    policy = load_policy(env.content_dir / "voicemail.yml")
    assert policy.asr_threshold == policy.intent_threshold == 0.5
    assert policy.routes["complaint"].priority == 2
    assert policy.reply_channel("ivr") == "sms" and policy.reply_channel("wechat") == "wechat"


def test_malformed_routing_rules_are_a_config_error(tmp_path):
    bad = tmp_path / "voicemail.yml"
    bad.write_text("thresholds: {asr_confidence: 0.5}\n", encoding="utf-8")
    with pytest.raises(VoicemailConfigError, match="voicemail.yml"):
        load_policy(bad)


# -- the HTTP NLU against the real Rasa server -----------------------------------------
@pytest.mark.slow
async def test_rasa_http_nlu_against_the_running_server(running_kefu):
    from bot.security.secrets import load_secrets

    token = load_secrets(running_kefu.settings).rasa_token
    result = await RasaHttpNlu(running_kefu.settings.rasa_url, token=token).parse("我家电视没信号了")
    assert result.intent == "fault_tv" and result.confidence > 0.5


# -- the CLI ---------------------------------------------------------------------------
def run_cli(settings, *argv: str) -> int:
    parser = argparse.ArgumentParser(prog="kefu")
    commands.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    args.settings = settings
    return args.handler(args)


def kefu_command(*argv: str) -> subprocess.CompletedProcess:
    """``kefu`` as a user runs it: its own process, so only what the command itself prints is on stderr."""
    environment = {**os.environ, "VOSK_MODEL_PATH": ""}  # the fixtures' data dir and database, no model
    return subprocess.run([sys.executable, "-m", "bot.cli", *argv], capture_output=True, text=True,
                          env=environment, timeout=120, cwd=PROJECT_ROOT)


def test_cli_without_vosk_model_stores_flags_and_exits_0(env, repo, amr_clip):
    done = kefu_command("voicemail", str(amr_clip), "--from", PLAIN_CUSTOMER, "--rasa-url", closed_port_url())
    assert done.returncode == 0, done.stderr
    assert "outcome: needs_human (asr_unavailable)" in done.stdout and "ticket: TK" in done.stdout
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("kefu: warning: no usable Vosk model") and "flagged for a human" in line
    [stored] = rows(repo, voice_messages)
    assert stored["outcome"] == "needs_human" and recording(env, stored["id"])


def spoken_wav(tmp_path, sentence: str = "宽带上不了网") -> Path:
    message = tmp_path / "message.wav"
    message.write_bytes(pcm_to_wav_bytes(spoken(sentence, 16000), 16000))
    return message


def test_cli_a_caller_that_is_no_phone_number_is_refused_and_nothing_stored(env, repo, tmp_path):
    """`kefu voicemail FILE --from PHONE`: a mistyped number (here letters, or a digit short) was stored as
    the caller, shown on the work item as the number to call back and texted the self-help."""
    for typo in ("abc", "1380000000"):
        done = kefu_command("voicemail", str(spoken_wav(tmp_path)), "--from", typo, "--rasa-url", closed_port_url())
        assert done.returncode == 1
        [line] = done.stderr.strip().splitlines()
        assert line.startswith(f"kefu: error: --from {typo!r} is not a phone number"), line
    assert rows(repo, voice_messages) == []


def test_cli_a_caller_number_written_as_dialled_is_the_customers(env, repo, tmp_path):
    done = kefu_command("voicemail", str(spoken_wav(tmp_path)), "--from", "+86 138-0000-0001",
                        "--rasa-url", closed_port_url())
    assert done.returncode == 0, done.stderr
    [stored] = rows(repo, voice_messages)
    assert stored["caller_phone"] == PLAIN_CUSTOMER and stored["customer_id"] is not None


def test_cli_with_the_database_down_says_the_message_is_kept_for_kefu_run(env, tmp_path):
    """README (Voice messages): a message the database does not take is kept in var/voicemail/unsaved/ and
    `kefu run` files it. The command said only "kefu: error: (psycopg2.OperationalError) …", so an operator
    ran it again once the database was back and the message was filed twice."""
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    environment = {**os.environ, "VOSK_MODEL_PATH": "", "KEFU_DATABASE_URL": f"postgresql://kefu:pw@127.0.0.1:{port}/kefu"}
    done = subprocess.run([sys.executable, "-m", "bot.cli", "voicemail", str(spoken_wav(tmp_path)), "--from",
                           PLAIN_CUSTOMER, "--rasa-url", closed_port_url()], capture_output=True, text=True,
                          env=environment, timeout=120, cwd=PROJECT_ROOT)
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines() or [""]
    [kept] = (env.data_dir / "voicemail" / "unsaved").glob("*.wav")
    assert line.startswith("kefu: error: the database cannot be used:") and f"port {port} failed" in line, line
    assert f"the message is kept in {kept}" in line and "kefu run" in line and "do not" in line, line


def test_cli_corrupt_audio_is_one_error_line_and_exit_1(env, tmp_path):
    broken = tmp_path / "broken.mp3"
    broken.write_bytes(b"\xff\xfb" + bytes(range(256)) * 8)
    done = kefu_command("voicemail", str(broken), "--from", PLAIN_CUSTOMER, "--rasa-url", closed_port_url())
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("kefu: error: cannot decode mp3 audio")


# -- real recognition with the test model ------------------------------------------------------
async def test_vosk_recognises_a_spoken_voice_message(env, repo, local_nlu, vosk_model_dir, tmp_path):
    sentence = "宽带上不了网"
    wav = tmp_path / "spoken.wav"
    wav.write_bytes(pcm_to_wav_bytes(spoken(sentence, 16000), 16000))
    amr = tmp_path / "spoken.amr"
    run_tool("sox", wav, "-r", "8000", "-c", "1", "-t", "amr-nb", amr)
    flow = pipeline(env, local_nlu, VoskEngine(vosk_model_dir))
    outcome = await flow.handle_file(amr, caller_phone=PLAIN_CUSTOMER)
    assert outcome.transcript == sentence
    assert outcome.intent == "fault_broadband"
    assert repo.get_voice_message(outcome.message_id)["transcript"] == sentence
    assert outcome.ticket_id is not None
    assert abs(clip_seconds(io.BytesIO(recording(env, outcome.message_id))) - outcome.duration_s) < 0.01


def test_cli_turns_a_spoken_message_into_a_ticket_with_the_transcript(env, repo, vosk_model_dir, tmp_path,
                                                                        capsys):
    """`kefu voicemail` with the real recogniser and the real NLU, on Kefu's own speech."""
    sentence = "帮我预约师傅上门"
    message = tmp_path / "visit.wav"
    message.write_bytes(pcm_to_wav_bytes(spoken(sentence, 16000), 16000))
    configured = dataclasses.replace(env, vosk_model_path=vosk_model_dir)

    assert run_cli(configured, "voicemail", str(message), "--from", PLAIN_CUSTOMER) == 0

    out = capsys.readouterr().out
    assert f"transcript: {sentence} (asr confidence" in out
    [stored] = rows(repo, voice_messages)
    assert stored["transcript"] == sentence and stored["ticket_id"]
    ticket = repo.get_ticket(stored["ticket_id"])
    assert ticket["kind"] == "visit" and sentence in ticket["summary"]
    assert ticket["details"]["transcript"] == sentence


def test_cli_classifying_in_process_prints_only_its_result(env, repo, vosk_model_dir, trained_model, tmp_path):
    """README (Voice messages, Operations): without a running server `kefu voicemail` loads the newest
    trained model in-process, and a one-shot command prints only its result. It printed jieba's
    dictionary lines and Rasa's "Slot auto-fill has been removed" warning (twice) on stderr."""
    message = tmp_path / "fault.wav"
    message.write_bytes(pcm_to_wav_bytes(spoken("宽带上不了网", 16000), 16000))
    environment = {name: value for name, value in os.environ.items()  # a shell's: no level set
                   if name not in ("KEFU_LOG_LEVEL", "TF_CPP_MIN_LOG_LEVEL")}
    environment.update(VOSK_MODEL_PATH=str(vosk_model_dir), KEFU_MODELS_DIR=str(trained_model.parent),
                       KEFU_RASA_PORT=closed_port_url().rsplit(":", 1)[1])  # no server: the model in-process
    done = subprocess.run([sys.executable, "-m", "bot.cli", "voicemail", str(message), "--from", PLAIN_CUSTOMER],
                          capture_output=True, text=True, env=environment, timeout=300, cwd=PROJECT_ROOT)
    assert done.returncode == 0 and "intent: fault_broadband" in done.stdout, done.stdout + done.stderr
    assert done.stderr == ""


@pytest.fixture
def no_training(monkeypatch):
    """A tripwire instead of `rasa train` (minutes of CPU): a command that trained would fail at once."""
    import bot.training

    monkeypatch.setattr(bot.training, "training_command",
                        lambda root, target: [sys.executable, "-c", "raise SystemExit('training started')"])


def test_cli_as_documented_uses_the_running_server_and_never_trains(running_kefu, vosk_model_dir, tmp_path,
                                                                     capsys, no_training):
    """Found by a tester: `kefu voicemail FILE --from PHONE` while `make run` served trained a new
    model first (7 minutes of Rasa logs), although the server's model was there to ask."""
    sentence = "宽带上不了网"
    message = tmp_path / "fault.wav"
    message.write_bytes(pcm_to_wav_bytes(spoken(sentence, 16000), 16000))
    no_models = tmp_path / "models"  # nothing to load in-process: only the server can classify it
    no_models.mkdir()
    settings = dataclasses.replace(running_kefu.settings, vosk_model_path=vosk_model_dir, models_dir=no_models)

    assert run_cli(settings, "voicemail", str(message), "--from", "13900000125") == 0

    out, err = capsys.readouterr()
    assert "intent: fault_broadband" in out and err == ""
    assert list(no_models.iterdir()) == []


def test_cli_without_a_server_or_a_model_flags_the_message_and_never_trains(env, repo, vosk_model_dir, tmp_path,
                                                                            capsys, no_training):
    message = tmp_path / "fault.wav"
    message.write_bytes(pcm_to_wav_bytes(spoken("宽带上不了网", 16000), 16000))
    no_models = tmp_path / "models"
    no_models.mkdir()
    settings = dataclasses.replace(env, vosk_model_path=vosk_model_dir, models_dir=no_models,
                                   rasa_port=int(closed_port_url().rsplit(":", 1)[1]))

    assert run_cli(settings, "voicemail", str(message), "--from", PLAIN_CUSTOMER) == 0

    out, err = capsys.readouterr()
    assert "outcome: needs_human (nlu_unavailable)" in out
    [line] = err.strip().splitlines()
    assert line.startswith("kefu: warning: the Rasa NLU could not classify") and "kefu train" in line
    assert list(no_models.iterdir()) == []
    [stored] = rows(repo, voice_messages)
    assert stored["transcript"] == "宽带上不了网" and stored["needs_human"] == 1


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


# -- retention -----------------------------------------------------------------------
def spoken_message(tmp_path, sentence: str) -> Path:
    """A voice message as WeChat sends it (AMR-NB, 8 kHz) of Kefu's TTS saying ``sentence``."""
    wav, amr = tmp_path / "said.wav", tmp_path / "said.amr"
    wav.write_bytes(pcm_to_wav_bytes(spoken(sentence, 16000), 16000))
    run_tool("sox", wav, "-r", "8000", "-c", "1", "-t", "amr-nb", amr)
    return amr


async def test_a_message_nobody_has_to_handle_is_not_kept_for_ever(env, repo, local_nlu, vosk_model_dir, tmp_path):
    # Answered with self-help, no agent ever finishes a work item for it, and no one can play it (the
    # desk shows only work items): its recording kept the caller's voice for ever. It goes
    # KEFU_VOICE_MESSAGE_EXPIRY_SECONDS after it was routed, like a finished one.
    store = RecordingStore(env.database_url)
    routed = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    outcome = await pipeline(env, local_nlu, VoskEngine(vosk_model_dir)).handle_file(
        spoken_message(tmp_path, "宽带上不了网"), caller_phone=PLAIN_CUSTOMER)
    assert (outcome.transcript, outcome.outcome, outcome.needs_human) == ("宽带上不了网", "selfhelp_sent", False)
    store.prune(now=routed + dt.timedelta(seconds=env.voice_message_expiry_s - 60))
    assert store.get(outcome.message_id, VOICE_MESSAGE) is not None  # kept meanwhile
    store.prune(now=routed + dt.timedelta(seconds=env.voice_message_expiry_s + 60))
    assert store.get(outcome.message_id, VOICE_MESSAGE, now=routed) is None


async def test_a_message_for_a_person_is_kept_until_its_work_item_is_done(env, repo, local_nlu, vosk_model_dir,
                                                                          tmp_path):
    store = RecordingStore(env.database_url)
    outcome = await pipeline(env, local_nlu, VoskEngine(vosk_model_dir)).handle_file(
        spoken_message(tmp_path, "我要投诉"), caller_phone=PLAIN_CUSTOMER)
    assert outcome.needs_human, outcome
    store.prune(now=dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) + dt.timedelta(days=365))
    assert store.get(outcome.message_id, VOICE_MESSAGE) is not None
