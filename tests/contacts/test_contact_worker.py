"""The contact worker in-process: scheduling from the ledger, exactly-once claims, restarts,
quiet hours, opt-out, retries on no answer, and the follow-up flow's answers reaching the ledger."""
from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from bot.contacts.dialer import Dialer
from bot.ivr.call_state import CallStore
from bot.ivr.config import HotlineConfigSource
from bot.ivr.engine import FlowEngine
from bot.ivr.events import CallStart, EndCall, KeyPress
from bot.ivr.handoff import QueueHandoff
from bot.ivr.registry import FlowRegistry
from bot.ivr.services import CallRecords, CallServices
from bot.notify import OutboxNotifier
from bot.contacts.schedule import Schedule
from bot.ledger.ledger import Ledger
from bot.ledger.rules import load_rules as load_ledger_rules
from tests.contacts.conftest import CUSTOMER_PHONE, followup_calls, resolved_repair


def contact_for(repository, ticket_id: str, rule: str = "repair_followup") -> dict:
    found = [c for c in Schedule(repository).listing() if c["ticket_id"] == ticket_id and c["rule"] == rule]
    assert len(found) == 1, found
    return found[0]


async def test_a_resolved_repair_is_called_once_however_many_passes_and_workers(repository, make_worker, telephony):
    ticket_id = resolved_repair(repository)
    first, second = make_worker(), make_worker()
    await asyncio.gather(first.run_pass(), second.run_pass())  # two workers race for the same due contact
    await first.run_pass()
    assert len(followup_calls(telephony)) == 1
    call = followup_calls(telephony)[0]
    contact = contact_for(repository, ticket_id)
    assert contact["status"] == "calling" and contact["carrier_call_id"] == call.sid
    assert call.parameters["kefuContact"] == contact["attempt_token"]  # only this call answers for it
    assert call.form["From"] == "+8657188880000" and "StatusCallback" not in call.form or call.form["StatusCallback"]


async def test_the_follow_up_calls_the_number_an_agent_corrected(kefu_env, repository, make_worker, telephony):
    from bot.handoff.contact_details import ContactDetails

    customer = repository.find_customer(phone=CUSTOMER_PHONE)
    ContactDetails(kefu_env.database_url).correct(customer, "callback_phone", "13912345678", by="demo")
    resolved_repair(repository)
    await make_worker().run_pass()
    assert followup_calls(telephony) == [] and [c.to for c in followup_calls(telephony, None)] == ["13912345678"]


async def test_a_follow_up_is_not_due_before_its_delay(repository, make_worker, telephony, clock):
    resolved_repair(repository)
    clock.now = dt.datetime.utcnow() + dt.timedelta(hours=1)  # the rule waits 24 hours after the resolution
    await make_worker().run_pass()
    assert followup_calls(telephony) == []


async def test_quiet_hours_postpone_the_call_to_the_morning(repository, make_worker, telephony, clock):
    ticket_id = resolved_repair(repository)
    clock.set_utc_hour(14)  # 22:00 in Shanghai
    await make_worker().run_pass()
    assert followup_calls(telephony) == []
    contact = contact_for(repository, ticket_id)
    assert contact["status"] == "scheduled" and contact["result"] == "quiet_hours"
    assert contact["due_at"] == clock.now.replace(hour=0) + dt.timedelta(days=1)  # 08:00 Shanghai = 00:00 UTC
    clock.now = contact["due_at"]
    await make_worker().run_pass()
    assert len(followup_calls(telephony)) == 1


async def test_an_opted_out_number_gets_no_contact(repository, make_worker, telephony):
    ticket_id = resolved_repair(repository)
    Schedule(repository).block(f"phone:{CUSTOMER_PHONE}", "opt_out", via="sms_td")
    await make_worker().run_pass()
    assert followup_calls(telephony) == []
    assert contact_for(repository, ticket_id)["status"] == "blocked"


async def test_an_opt_out_told_to_the_assistant_or_an_agent_stops_the_follow_up_call(kefu_env, repository,
                                                                                      make_worker, telephony):
    """The chat's and the desk's opt-out (bot/contacts/optout.py) is the one the worker honours."""
    from bot.contacts.optout import opt_out

    ticket_id = resolved_repair(repository)
    await opt_out(repository.url, [f"phone:{CUSTOMER_PHONE}"], conversation_id="optout-chat", channel="webchat",
                  via="assistant")
    await make_worker().run_pass()
    assert followup_calls(telephony) == []
    assert contact_for(repository, ticket_id)["status"] == "blocked"


async def test_do_not_disturb_blocks_too(repository, make_worker, telephony):
    ticket_id = resolved_repair(repository)
    Schedule(repository).block(f"phone:{CUSTOMER_PHONE}", "dnd", via="cli")
    await make_worker().run_pass()
    assert followup_calls(telephony) == [] and contact_for(repository, ticket_id)["result"] == "dnd"


async def test_no_answer_is_retried_with_backoff_then_the_daily_limit_holds(repository, make_worker, telephony, clock):
    ticket_id = resolved_repair(repository)
    worker = make_worker()
    await worker.run_pass()
    clock.advance(minutes=6)  # past ring + call timeout: nobody answered
    await worker.run_pass()
    contact = contact_for(repository, ticket_id)
    assert contact["status"] == "scheduled" and contact["result"] == "no_answer"
    assert contact["due_at"] == clock.now + dt.timedelta(minutes=30)
    clock.advance(minutes=31)
    await worker.run_pass()
    assert len(followup_calls(telephony)) == 2
    clock.advance(minutes=6)
    await worker.run_pass()  # second no answer: retry in 120 minutes...
    clock.advance(minutes=121)
    await worker.run_pass()  # ...but two attempts today is the limit: tomorrow morning
    contact = contact_for(repository, ticket_id)
    assert len(followup_calls(telephony)) == 2
    assert contact["result"] == "daily_limit" and contact["due_at"] > clock.now


async def test_a_worker_killed_mid_pass_loses_and_repeats_nothing(repository, make_worker, telephony, clock):
    # Three customers (one customer would meet the daily attempt limit).
    ticket_ids = [resolved_repair(repository, phone) for phone in ("13800000001", "13800000003", "13800000004")]

    class DialerThatDies(Dialer):
        async def place(self, to, **kwargs):
            if followup_calls(telephony, None):  # the second call: the process dies before the carrier answers
                await asyncio.Event().wait()
            return await super().place(to, **kwargs)

    dying = make_worker()
    dying.dialer = DialerThatDies(**vars(dying.dialer))
    task = asyncio.create_task(dying.run_pass())
    # The second attempt is counted before it is dialled: whether the carrier took the call is unknown.
    await poll(lambda: statuses(repository, ticket_ids) == ["calling", "calling", "scheduled"],
               "the first call placed and the second being dialled")
    task.cancel()  # killed
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(followup_calls(telephony, None)) == 1
    fresh = make_worker()  # the restarted worker: the placed call is not repeated...
    await fresh.run_pass()
    assert [c.parameters["kefuContact"] for c in followup_calls(telephony, None)][1] == \
        contact_for(repository, ticket_ids[2])["attempt_token"]
    clock.advance(minutes=3)  # ...nor the one being dialled when the worker died: it may be ringing now
    await fresh.run_pass()
    tokens = [c.parameters["kefuContact"] for c in followup_calls(telephony, None)]
    assert len(tokens) == 2 and len(set(tokens)) == 2
    assert [contact_for(repository, t)["attempts"] for t in ticket_ids] == [1, 1, 1]
    clock.advance(minutes=4)  # past ring and call time: each counts as not answered, to be retried
    await fresh.run_pass()
    assert [(contact_for(repository, t)["status"], contact_for(repository, t)["result"]) for t in ticket_ids] == \
        [("scheduled", "no_answer")] * 3


def statuses(repository, ticket_ids: list[str]) -> list[str | None]:
    by_ticket = {c["ticket_id"]: c["status"] for c in Schedule(repository).listing() if c["rule"] == "repair_followup"}
    return [by_ticket.get(t) for t in ticket_ids]


async def poll(condition, what: str, timeout: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await asyncio.to_thread(condition):
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


@pytest.fixture
async def engine(kefu_env, repository, redis):
    services = CallServices(registry=FlowRegistry(kefu_env.ivr_flows_dir, redis).load(), store=CallStore(redis),
                            hotline=HotlineConfigSource(kefu_env.ivr_config_path), records=CallRecords(repository),
                            handoff=QueueHandoff(redis, repository),
                            notifier=OutboxNotifier.from_settings(kefu_env, repository))
    return FlowEngine(services)


async def answer_call(engine, call, keys: str) -> list:
    """The callee picks up the placed call and presses ``keys``; the engine's commands, in order."""
    call_id = "MZ" + call.sid[2:]
    commands = await engine.start(CallStart(call_id=call_id, caller=call.parameters["caller"],
                                            flow=call.parameters["flow"], carrier_call_id=call.sid,
                                            contact_token=call.parameters["kefuContact"]))
    for key in keys:
        commands += await engine.handle(call_id, KeyPress(key))
    assert isinstance(commands[-1], EndCall)
    await engine.end(call_id, "flow")
    return commands


def ledger_step(kefu_env, repository, ticket_id: str) -> str:
    return Ledger(repository, load_ledger_rules(kefu_env.content_dir / "ledger.yml")).item(ticket_id).step


async def test_not_fixed_reopens_the_ledger_item_and_records_the_score(kefu_env, repository, make_worker, telephony,
                                                                       engine):
    ticket_id = resolved_repair(repository)
    await make_worker().run_pass()
    await answer_call(engine, followup_calls(telephony)[0], "23")
    assert repository.get_ticket(ticket_id)["status"] == "open"
    assert ledger_step(kefu_env, repository, ticket_id) == "registered"  # to be acted on again
    contact = contact_for(repository, ticket_id)
    assert contact["status"] == "done" and contact["result"] == "not_fixed"
    events = [e for e in repository.events_for(f"ivr:MZ{followup_calls(telephony)[0].sid[2:]}")]
    assert [e["data"]["score"] for e in events if e["kind"] == "csat_given"] == [3]
    assert [e["data"]["ledger"] for e in events if e["kind"] == "contact_answered"][0] == "reopened"


async def test_fixed_closes_the_follow_up_and_the_answer_of_an_old_attempt_is_ignored(
        kefu_env, repository, make_worker, telephony, engine):
    ticket_id = resolved_repair(repository)
    await make_worker().run_pass()
    await answer_call(engine, followup_calls(telephony)[0], "15")
    assert ledger_step(kefu_env, repository, ticket_id) == "follow_up_done"
    forged = type(followup_calls(telephony)[0])("CAforged", CUSTOMER_PHONE, "", "", {
        "flow": "followup", "caller": CUSTOMER_PHONE, "kefuContact": "not-a-token"}, {})
    await answer_call(engine, forged, "2" + "1")
    assert repository.get_ticket(ticket_id)["status"] == "follow_up_done"


async def test_key_8_opts_out_of_every_later_contact(kefu_env, repository, make_worker, telephony, engine, clock):
    resolved_repair(repository)
    await make_worker().run_pass()
    await answer_call(engine, followup_calls(telephony)[0], "8")  # 9 repeats the question, as in every menu
    assert Schedule(repository).blocked(f"phone:{CUSTOMER_PHONE}") == "opt_out"
    later = resolved_repair(repository)
    clock.advance(days=1)
    await make_worker().run_pass()
    assert len(followup_calls(telephony)) == 1 and contact_for(repository, later)["status"] == "blocked"


async def test_a_callback_booked_while_waiting_reaches_an_agent_at_its_time(kefu_env, repository, make_worker, redis,
                                                                             clock):
    from bot.handoff.queue import HandoffQueue, HandoffRequest
    from bot.handoff.waiting_tickets import waiting_room_ticket

    queue = HandoffQueue(redis)
    said = [{"who": "customer", "text": "电视没有信号，下午三点以后再打给我"}]
    request = HandoffRequest(conversation_id="webchat-cb-1", channel="webchat", skill="tv", priority=0,
                             customer_id=None, context={"transcript": said, "slots": {"fault_type": "tv"}})
    ticket_id, _ = await waiting_room_ticket(request, kind="callback", phone="13900000077", within_hours=4,
                                             callback_at=clock.now + dt.timedelta(hours=1))
    contact = contact_for(repository, ticket_id, rule="waiting_callback")
    assert contact["status"] == "scheduled" and contact["due_at"] == clock.now + dt.timedelta(hours=1)
    worker = make_worker(queue=queue)
    await worker.run_pass()
    assert await queue.claim_next("agent-1") is None  # not before the chosen time
    clock.advance(hours=1)
    await worker.run_pass()
    await worker.run_pass()
    offered = await queue.claim_next("agent-1")
    assert offered is not None and offered.conversation_id == "webchat-cb-1" and offered.skill == "tv"
    assert offered.context["transcript"] == said
    assert offered.context["callback"]["ticket_id"] == ticket_id
    assert offered.context["callback"]["phone"] == "13900000077"
    assert contact_for(repository, ticket_id, rule="waiting_callback")["status"] == "offered"
    kinds = [e["kind"] for e in repository.events_for("webchat-cb-1")]
    assert "handoff_claimed" in kinds
    from bot.handoff.tickets import disposition_ticket

    assert await disposition_ticket(offered, "resolved", "called back, fixed", "agent-1") == ticket_id
    # The callback is acted on in the ledger, and the customer, who spoke with the agent, told.
    assert repository.get_ticket(ticket_id)["status"] == "customer_told"
    # Found by a tester: the schedule kept saying `offered` after the agent had handled it.
    handled = contact_for(repository, ticket_id, rule="waiting_callback")
    assert (handled["status"], handled["result"], handled["details"]["agent_id"]) == ("done", "resolved", "agent-1")


def test_the_contact_list_shows_due_times_in_the_centres_zone(repository, capsys):
    """Found by a tester: `kefu contacts list` printed `due (UTC)`; the centre reads its own zone (content/kpi.yml)."""
    from bot.cli import main

    due = dt.datetime(2026, 12, 2, 5, 1)  # naive UTC, as stored
    Schedule(repository).add(dedupe_key="zone-1", purpose="callback", rule="waiting_callback", due_at=due,
                             channels=["phone"], phone="13900001234", ticket_id="TK000042")
    assert main(["contacts", "list"]) == 0
    out = capsys.readouterr().out
    assert "Asia/Shanghai" in out.splitlines()[0] and "UTC" not in out
    line = next(row for row in out.splitlines() if "TK000042" in row)
    assert "2026-12-02 13:01" in line


def test_status_callback_signature_matches_twilios_documented_example():
    from bot.contacts.status import signature, signed_by_carrier

    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = {"CallSid": "CA1234567890ABCDE", "Caller": "+12349013030", "Digits": "1234", "From": "+12349013030",
              "To": "+18005551212"}
    assert signature("12345", url, params) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    assert signed_by_carrier("12345", url, params, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
    assert not signed_by_carrier("12345", url, {**params, "Digits": "9"}, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")


async def test_a_busy_line_reported_by_the_carrier_is_retried_at_once(repository, make_worker, telephony, clock):
    from bot.contacts.status import record_call_status

    ticket_id = resolved_repair(repository)
    worker = make_worker()
    await worker.run_pass()
    call = followup_calls(telephony)[0]
    clock.advance(seconds=20)
    assert record_call_status(repository, {"CallSid": call.sid, "CallStatus": "busy"})
    await worker.run_pass()  # well before the call's own timeout
    contact = contact_for(repository, ticket_id)
    assert contact["status"] == "scheduled" and contact["result"] == "busy"
    assert not record_call_status(repository, {"CallSid": "CAunknown", "CallStatus": "busy"})


async def test_a_callback_booked_on_the_phone_after_hours_is_offered_when_agents_are_back(
        kefu_env, repository, engine, redis, make_worker, clock):
    from bot.handoff.queue import HandoffQueue

    hours = engine.services.hotline.get().hours
    night = dt.datetime(2026, 12, 1, 22, 30, tzinfo=hours.timezone)  # a Tuesday, after 21:00
    engine.services.clock = lambda: night
    commands = await engine.start(CallStart(call_id="MZnight", caller="13800000003", flow="main",
                                            caller_verified=True))  # the trunk vouched: called back on it
    for key in "3":  # the after-hours menu: "预约人工客服回电请按3"
        commands += await engine.handle("MZnight", KeyPress(key))
    await engine.end("MZnight", "caller")
    queue = HandoffQueue(redis)
    worker = make_worker(queue=queue)
    clock.now = night.astimezone(dt.timezone.utc).replace(tzinfo=None)
    await worker.run_pass()
    contact = Schedule(repository).listing(purpose="callback")[0]
    morning = dt.datetime(2026, 12, 2, 8, 0, tzinfo=hours.timezone).astimezone(dt.timezone.utc).replace(tzinfo=None)
    assert contact["status"] == "scheduled" and contact["due_at"] == morning
    assert contact["details"]["conversation_id"] == "ivr:MZnight" and contact["phone"] == "13800000003"
    clock.now = morning
    await worker.run_pass()
    offered = await queue.claim_next("agent-1")
    assert offered is not None and offered.conversation_id == "ivr:MZnight"


async def test_contacts_kefu_starts_are_not_counted_as_customer_contacts(kefu_env, repository, make_worker, telephony,
                                                                         engine):
    import sqlalchemy as sa

    from bot.analytics.contacts import split_contacts
    from bot.db.schema import conversation_events
    from bot.outcomes import record

    resolved_repair(repository)
    await make_worker().run_pass()
    call = followup_calls(telephony)[0]
    await answer_call(engine, call, "14")
    await record("webchat-customer-1", "contact_started", channel="webchat", customer="customer:1",
                 database_url=repository.url)
    await record("webchat-customer-1", "intent_seen", channel="webchat", database_url=repository.url,
                 intent="fault_tv", confidence=0.9)
    with repository.engine.connect() as conn:
        events = [dict(r) for r in conn.execute(sa.select(conversation_events)).mappings()]
    assert {e["conversation_id"] for e in events} >= {f"ivr:MZ{call.sid[2:]}", "webchat-customer-1"}
    assert [c.conversation_id for c in split_contacts(events)] == ["webchat-customer-1"]


async def test_a_callback_booked_with_the_bot_reaches_the_agent_with_the_customer_and_a_reason(
        kefu_env, repository, make_worker, redis, clock):
    """Found by a journey tester: a verified customer's callback (ticket on his account, offered by the worker)
    reached the desk as 未识别客户 with blank channel and skill, no open tickets, and reason ``reason_undefined``."""
    from bot.handoff.context import summary
    from bot.handoff.queue import HandoffQueue
    from bot.handoff.rules import load_rules as load_handoff_rules

    customer = repository.find_customer(phone=CUSTOMER_PHONE)
    complaint = repository.create_ticket(kind="complaint", customer_id=customer.id, summary="宽带一周没修好",
                                         details={}, channel="wechat", conversation_id="wechat-cb-2")
    ticket_id = repository.create_ticket(kind="callback", customer_id=customer.id, summary="你们说的回电什么时候打给我",
                                         details={"fault_type": "fault_broadband"}, priority=1, needs_human=True,
                                         channel="wechat", conversation_id="wechat-cb-2")
    queue = HandoffQueue(redis)
    worker = make_worker(queue=queue)
    await worker.run_pass()
    await worker.run_pass()
    offered = await queue.claim_next("agent-1")
    assert offered is not None and offered.conversation_id == "wechat-cb-2"
    packet = offered.context
    assert (packet["channel"], packet["reason"]) == ("wechat", "callback")
    assert packet["customer"]["name"] == customer.name and packet["phone"] == CUSTOMER_PHONE
    assert {complaint, ticket_id} <= {t["ticket_id"] for t in packet["open_tickets"]}
    assert packet["callback"]["ticket_id"] == ticket_id
    said = summary(packet, load_handoff_rules(kefu_env.content_dir / "handoff.yml"), 60)
    assert customer.name in said and "微信" in said and "综合" in said and complaint in said, said


def test_every_handoff_reason_has_words_on_the_desk(kefu_env):
    """The desk shows ``reason_<reason>``: a reason without words showed as a raw key (reason_undefined)."""
    import json

    from bot.contacts.offer import CALLBACK_REASON

    words = json.loads((kefu_env.content_dir / "ui" / "agent_desk.zh.json").read_text(encoding="utf-8"))
    assert words.get(f"reason_{CALLBACK_REASON}") and words.get("reason_other")
