"""A caller who reached the voice-message node and hung up without a message gave up a message.

Found by the head-of-operations tester: a caller who pressed 4 (语音留言), stayed silent and hung up
was recorded as 无应答 ("said nothing"), with no trace that they reached the voicemail, and was left
out of every rate. Now the call records the node reached (``ivr_voicemail_started``) and the contact
counts as **message abandoned**: a request (in containment's and FCR's denominators), not contained,
not resolved; a message actually left still counts as **message**.

The real flow engine and the shipped main flow, on a real Redis and database.
"""
from __future__ import annotations

import datetime as dt
import uuid

from bot.analytics.contacts import split_contacts
from bot.analytics.kpis import figures
from bot.db.repository import Repository
from bot.ivr.call_state import CallStore
from bot.ivr.config import HotlineConfigSource
from bot.ivr.engine import FlowEngine
from bot.ivr.events import CallStart, KeyPress, Recording
from bot.ivr.flow_tests import CollectingNotifier, ScriptedBot, ScriptedQueue
from bot.ivr.registry import FlowRegistry
from bot.ivr.services import CallRecords, CallServices
from tests.handoff.conftest import redis, redis_url  # noqa: F401  the same real Redis fixtures

NOON = dt.datetime.fromisoformat("2026-11-23T12:00:00+08:00")  # business hours: the main menu


def engine_for(kefu_env, redis, voicemail=None):  # noqa: F811
    repository = Repository(kefu_env.database_url)
    return repository, FlowEngine(CallServices(
        registry=FlowRegistry(kefu_env.root / "ivr_flows", redis).load(), store=CallStore(redis),
        hotline=HotlineConfigSource(kefu_env.content_dir / "ivr.yml"), records=CallRecords(repository),
        handoff=ScriptedQueue(wait_s=60), notifier=CollectingNotifier(), bot=ScriptedBot([]),
        voicemail=voicemail, clock=lambda: NOON))


async def call(engine, *events) -> str:
    call_id = f"vm-{uuid.uuid4().hex[:8]}"
    await engine.start(CallStart(call_id=call_id, caller="13900000000", flow="main", speech_recognised=True))
    for event in events:
        await engine.handle(call_id, event)
    await engine.end(call_id, "hung_up")
    await engine.drain()
    return f"ivr:{call_id}"


async def test_a_silent_caller_who_hung_up_at_the_voicemail_gave_up_a_message(kefu_env, redis):  # noqa: F811
    repository, engine = engine_for(kefu_env, redis)
    conversation = await call(engine, KeyPress("4"), Recording(b"\0\0" * 800, 8000, "hangup", heard_speech=False))
    events = repository.events_for(conversation)
    assert "ivr_voicemail_started" in [e["kind"] for e in events], "no trace that the voicemail was reached"
    contacts = split_contacts(events)
    assert [c.how for c in contacts] == ["message_abandoned"]
    f = figures(contacts, sl_seconds=20)
    assert (f.containment, f.fcr_24h) == (0, 0), "a request, not contained, not resolved"
    assert f.abandonment is None, "no one asked for a person: the queue's abandonment is not moved"


async def test_a_message_left_is_still_a_message(kefu_env, redis):  # noqa: F811
    left = []

    async def voicemail(pcm, rate, phone, call_id):
        left.append(call_id)

    repository, engine = engine_for(kefu_env, redis, voicemail)
    speech = b"\1\2" * 8000 * 3  # 3 s
    conversation = await call(engine, KeyPress("4"), Recording(speech, 8000, "hangup", heard_speech=True))
    assert left
    assert [c.how for c in split_contacts(repository.events_for(conversation))] == ["message"]
