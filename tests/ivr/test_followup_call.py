"""End to end: a resolved repair ticket makes the contact worker place exactly one follow-up call
through a loopback telephony REST API (Twilio's Calls.json); the loopback, like a carrier whose
callee picks up, opens Kefu's real media-stream endpoint with the TwiML's parameters; the callee
presses 1 (fixed) and 5 (CSAT); the ledger item moves to "follow-up done"."""
from __future__ import annotations

import asyncio
import datetime as dt
import random
import time

import pytest

from bot.contacts.dialer import Dialer
from bot.contacts.rules import load_rules
from bot.contacts.worker import ContactWorker
from bot.db.schema import customers
from bot.ledger.ledger import Ledger
from bot.ledger.rules import load_rules as load_ledger_rules
from tests.conftest import PROJECT_ROOT
from tests.contacts.telephony_loopback import TelephonyLoopback
from tests.ivr.conftest import ended
from tests.ivr.simulator import PhoneCall

pytestmark = pytest.mark.slow


def new_customer(repository) -> tuple[int, str]:
    phone = f"137{random.randint(0, 99_999_999):08d}"
    with repository.engine.begin() as conn:
        customer_id = conn.execute(customers.insert().values(
            phone=phone, account_number=f"9{phone}", name="回访测试", vip_tier=0, address="", balance_cents=0,
        )).inserted_primary_key[0]
    return customer_id, phone


def daytime_after(hours: float) -> dt.datetime:
    """Naive UTC ``hours`` from now, moved out of the quiet hours if it falls in them."""
    rules = load_rules(PROJECT_ROOT / "content" / "contacts.yml")
    when = dt.datetime.utcnow() + dt.timedelta(hours=hours)
    return rules.quiet_hours_end(when) + dt.timedelta(hours=1) if rules.in_quiet_hours(when) else when


async def until(condition, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(condition):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def test_resolved_repair_gets_one_follow_up_call_that_records_fixed_and_csat(ivr_url, repository, running_kefu):
    customer_id, phone = new_customer(repository)
    ticket_id = repository.create_ticket(kind="fault", customer_id=customer_id, summary="宽带断线",
                                         details={"fault_type": "broadband"}, channel="webchat")
    repository.move_ticket(ticket_id, "assigned")
    repository.move_ticket(ticket_id, "resolved", note="line repaired")
    streams: list[str] = []

    async def callee_picks_up(call) -> None:
        if call.to != phone:
            return  # another test's customer: never answers
        async with PhoneCall(call.stream_url, caller=call.parameters["caller"], flow=call.parameters["flow"],
                             parameters={"kefuContact": call.parameters["kefuContact"]}) as line:
            streams.append(line.stream_sid)
            await line.wait_mark("ask_fixed", 30)
            await line.press("1")
            await line.wait_mark("ask_csat", 30)
            await line.press("5")
            await line.wait_closed(30)

    telephony = await TelephonyLoopback(answer=callee_picks_up).start()
    try:
        dialer = Dialer(telephony.url, telephony.account_sid, telephony.auth_token, "+8657188880000", ivr_url)
        now = daytime_after(25)
        worker = ContactWorker(repository, rules=lambda: load_rules(PROJECT_ROOT / "content" / "contacts.yml"),
                               ledger_rules=lambda: load_ledger_rules(PROJECT_ROOT / "content" / "ledger.yml"),
                               dialer=dialer, clock=lambda: now)
        await worker.run_pass()
        await telephony.finish_calls(60)
        await worker.run_pass()  # a second pass (or a restarted worker) places nothing more
        mine = [c for c in telephony.calls if c.to == phone]
        assert len(mine) == 1 and mine[0].parameters["flow"] == "followup"
        assert mine[0].form["From"] == "+8657188880000"
        await until(lambda: repository.get_ticket(ticket_id)["status"] == "follow_up_done", "the ledger to close")
        ledger = Ledger(repository, load_ledger_rules(PROJECT_ROOT / "content" / "ledger.yml"))
        assert ledger.item(ticket_id).step == "follow_up_done"
        record = await ended(repository, streams[0])
        assert record["flow"] == "followup" and record["path"][:3] == ["hello", "ask_fixed", "fixed"]
        events = repository.events_for(f"ivr:{streams[0]}")
        assert [e["data"]["answer"] for e in events if e["kind"] == "contact_answered"] == ["fixed", "csat"]
        assert [e["data"]["score"] for e in events if e["kind"] == "csat_given"] == [5]
        assert [e["customer"] for e in events if e["kind"] == "csat_given"] == [f"customer:{customer_id}"]
    finally:
        await telephony.stop()
    # The server also mounts the carrier's status callback and the SMS replies webhook; both refuse
    # a caller that cannot prove it is the carrier or the gateway.
    import aiohttp

    async with aiohttp.ClientSession() as http:
        base = running_kefu.settings.rasa_url
        async with http.post(f"{base}/webhooks/ivr/status", data={"CallSid": mine[0].sid, "CallStatus": "busy"}) as r:
            assert r.status == 403
        async with http.post(f"{base}/webhooks/sms/inbound", json={"from": phone, "text": "TD"}) as r:
            assert r.status == 401
