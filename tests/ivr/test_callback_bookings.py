"""What a callback booked on the phone leaves behind, whichever way it was booked.

Found in review: a hold key's callback worked out the promised time from the hotline hours in the
settings' file while the flow's callback used the engine's (the caller heard one opening, the queue used
another); the flow's ``callback_booked`` event had no promised time for analytics and agents; its ticket
kept the number as ``caller``, which the chat's ticket follow-up does not read (it reads ``callback_phone``,
as every other callback ticket has it); and a callback node with ``ask_number`` but no ``on_failure`` went
on to its ``next`` (已预约回电, with nothing booked and no time) when the database refused the ticket.
Shipped flows where they show it, real Redis and SQLite.
"""
from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa

from bot.db.repository import Repository
from bot.ivr.call_state import CallStore
from bot.ivr.config import HotlineConfigSource
from bot.ivr.engine import FlowEngine
from bot.ivr.events import CallStart, EndCall, KeyPress, Say
from bot.ivr.flow_tests import CollectingNotifier, ScriptedBot, ScriptedQueue
from bot.ivr.handoff import QueueHandoff
from bot.ivr.registry import FlowRegistry
from bot.ivr.services import CallRecords, CallServices
from bot.outcomes import recorder_for
from bot.outcomes.store import read_events
from tests.handoff.conftest import redis, redis_url  # noqa: F401  the same real Redis fixtures
from tests.ivr.test_callback_promised_time import booked_at

LATE_EVENING = dt.datetime.fromisoformat("2026-11-23T22:30:00+08:00")  # a Monday, after the shipped 21:00 close


async def press(engine: FlowEngine, call_id: str, keys: str) -> list[str]:
    heard = []
    for key in keys:
        heard += [c.text for c in await engine.handle(call_id, KeyPress(key)) if isinstance(c, Say)]
    return heard


async def callback_events(kefu_env, conversation: str) -> list[dict]:
    assert await recorder_for(kefu_env.database_url).flush()
    engine = sa.create_engine(kefu_env.database_url)
    return [e["data"] for e in read_events(engine) if e["conversation_id"] == conversation
            and e["kind"] == "callback_booked"]


async def test_a_hold_key_callback_is_promised_by_the_hours_the_call_was_routed_by(kefu_env, redis, tmp_path):  # noqa: F811
    """This hotline's agents work till midnight (the engine's content/ivr.yml); the settings' file says 21:00.
    A caller queued at 22:30 who presses 1 for a callback is promised 00:30, not the next morning's 10:00."""
    late = tmp_path / "ivr.yml"
    late.write_text((kefu_env.content_dir / "ivr.yml").read_text(encoding="utf-8").replace(
        'close: "21:00"', 'close: "24:00"'), encoding="utf-8")
    repository = Repository(kefu_env.database_url)
    handoff = QueueHandoff(redis, repository)
    handoff.queue.clock = LATE_EVENING.timestamp
    engine = FlowEngine(CallServices(
        registry=FlowRegistry(kefu_env.root / "ivr_flows", redis).load(), store=CallStore(redis),
        hotline=HotlineConfigSource(late), records=CallRecords(repository), handoff=handoff,
        notifier=CollectingNotifier(), bot=ScriptedBot([]), clock=lambda: LATE_EVENING))
    call_id = f"hold-{uuid.uuid4().hex[:8]}"
    await engine.start(CallStart(call_id=call_id, caller="13800000001", flow="main", caller_verified=True))
    try:
        await press(engine, call_id, "00")  # 人工服务; nobody is signed in, so 继续等待
        assert (await engine.services.store.load(call_id)).status == "queued"
        heard = await press(engine, call_id, "1")  # hold key: 预约回电
    finally:
        await engine.end(call_id, "test")
    assert any("已为您预约回电" in said and "11-24 00:30" in said for said in heard), heard
    assert [e.get("callback_by") for e in await callback_events(kefu_env, f"ivr:{call_id}")] == ["2026-11-24T00:30+08:00"]


async def test_the_flows_callback_event_carries_the_time_promised(kefu_env, redis):  # noqa: F811
    heard, tickets = await booked_at(kefu_env, redis, "2026-11-23T10:00:00+08:00", "01")
    conversation = tickets[0]["conversation_id"]
    assert any("12:00" in said for said in heard), heard
    events = await callback_events(kefu_env, conversation)
    assert [(e["ticket_id"], e.get("callback_by")) for e in events] == [(tickets[0]["ticket_id"], "2026-11-23T12:00+08:00")], events
    assert tickets[0]["details"]["callback_by"] == events[0]["callback_by"], "the event promises what the ticket does"


async def test_a_callback_booked_from_a_withheld_number_is_followed_in_the_chat_by_its_owner(kefu_env, redis):  # noqa: F811
    """Booked on the phone from a withheld number, keying 张伟's own; later, proven in the chat, he asks after
    his tickets: the callback is his (``actions.tickets.is_theirs`` reads the ticket's callback number)."""
    from actions.tickets import is_theirs

    repository = Repository(kefu_env.database_url)
    engine = FlowEngine(CallServices(
        registry=FlowRegistry(kefu_env.root / "ivr_flows", redis).load(), store=CallStore(redis),
        hotline=HotlineConfigSource(kefu_env.content_dir / "ivr.yml"), records=CallRecords(repository),
        handoff=ScriptedQueue(wait_s=60, agents_online=False), notifier=CollectingNotifier(), bot=ScriptedBot([]),
        clock=lambda: dt.datetime.fromisoformat("2026-11-23T10:00:00+08:00")))
    call_id = f"main-{uuid.uuid4().hex[:8]}"
    await engine.start(CallStart(call_id=call_id, caller="", flow="main"))
    await press(engine, call_id, "01" + "13800000001#")
    await engine.end(call_id, "test")
    ticket = next(t for t in repository.tickets_since() if t.get("conversation_id") == f"ivr:{call_id}")
    assert ticket["customer_id"] is None
    assert ticket["details"]["callback_phone"] == "13800000001", ticket["details"]
    zhang = repository.find_customer(phone="13800000001")
    assert is_theirs(ticket, zhang, verified=True, conversation_id="web-zhang")


def test_an_old_phone_callback_ticket_still_shows_its_number():
    """Tickets booked before the number was kept as ``callback_phone`` have it as ``caller``."""
    from actions.tickets import is_theirs
    from bot.handoff.tickets import callback_number

    old = {"customer_id": None, "conversation_id": "ivr:CAold", "details": {"caller": "13800000001", "source": "ivr"}}
    assert callback_number(old["details"]) == "13800000001"
    zhang = type("Customer", (), {"id": 1, "phone": "13800000001"})()
    assert is_theirs(old, zhang, verified=True, conversation_id="web-zhang")


FLOW_WITHOUT_ON_FAILURE = """\
flow: t_callback
start: menu
nodes:
  menu:
    type: menu
    say: 预约回电请按1。
    options:
      - {digits: "1", target: callback}
  callback:
    type: callback
    skill: general
    ask_number: ask_number
    next: booked
  ask_number:
    type: collect_digits
    say: 请输入回电号码。
    length: 11
    store_as: reply_phone
    next: callback
  booked:
    type: hangup
    say: 已为您预约回电，客服会在{callback_by}前回电，工单号{ticket_id}。
"""


async def test_a_callback_the_database_refused_is_not_called_booked_without_on_failure(kefu_env, redis, tmp_path):  # noqa: F811
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "t_callback.yml").write_text(FLOW_WITHOUT_ON_FAILURE, encoding="utf-8")
    repository = Repository(kefu_env.database_url)
    engine = FlowEngine(CallServices(
        registry=FlowRegistry(flows, redis).load(), store=CallStore(redis),
        hotline=HotlineConfigSource(kefu_env.content_dir / "ivr.yml"), records=CallRecords(repository),
        handoff=ScriptedQueue(wait_s=60), notifier=CollectingNotifier(), bot=ScriptedBot([]),
        clock=lambda: dt.datetime.fromisoformat("2026-11-23T10:00:00+08:00")))
    call_id = f"refused-{uuid.uuid4().hex[:8]}"
    await engine.start(CallStart(call_id=call_id, caller="", flow="t_callback"))
    with repository.engine.begin() as conn:  # the tickets cannot be written now
        conn.execute(sa.text("ALTER TABLE tickets RENAME TO tickets_away"))
    try:
        commands = []
        for key in "1" + "13900002222":
            commands = await engine.handle(call_id, KeyPress(key))
    finally:
        with repository.engine.begin() as conn:
            conn.execute(sa.text("ALTER TABLE tickets_away RENAME TO tickets"))
        await engine.end(call_id, "test")
    heard = [c.text for c in commands if isinstance(c, Say)]
    assert not any("已为您预约回电" in said for said in heard), heard
    assert any("暂时无法为您预约回电" in said for said in heard), heard  # content/ivr.yml callback_failed
    assert any(isinstance(c, EndCall) for c in commands), commands
