"""The demo carrier on the running stack: with no telephony account configured, the contact worker's
real dialer places its calls through the carrier built into the Rasa server (Twilio's Calls.json);
a softphone listening for the number hears the ring, and what happens to the ring comes back to the
schedule as the carrier's signed status callback."""
from __future__ import annotations

import datetime as dt

import pytest
import requests

from bot.contacts.carrier_account import carrier_account
from bot.contacts.schedule import Schedule
from bot.db.schema import customers
from tests.ivr.demo_phone import DemoPhone, demo_worker, press_during_next_prompt, until_contact
from tests.ivr.simulator import PhoneCall
from tests.ivr.test_followup_call import daytime_after, new_customer

pytestmark = pytest.mark.slow


def resolved_ticket(repository, kind: str, details: dict) -> tuple[str, str]:
    """A new customer's ticket, acted on and resolved: (their phone, the ticket id)."""
    customer_id, phone = new_customer(repository)
    ticket_id = repository.create_ticket(kind=kind, customer_id=customer_id, summary="demo carrier test",
                                         details=details, channel="webchat")
    repository.move_ticket(ticket_id, "assigned")
    repository.move_ticket(ticket_id, "resolved", note="done")
    return phone, ticket_id


def test_the_stack_without_telephony_calls_through_the_demo_carrier(running_kefu):
    account = carrier_account(running_kefu.settings)
    assert account is not None and account.demo
    url = f"{account.api_url}/2010-04-01/Accounts/{account.account_sid}/Calls.json"
    form = {"To": "13800000001", "From": account.from_number, "Twiml": "<Response/>"}
    assert requests.post(url, data=form, auth=(account.account_sid, "wrong"), timeout=10).status_code == 401
    refused = requests.post(url, data=form, auth=(account.account_sid, account.auth_token), timeout=10)
    assert refused.status_code == 400 and refused.json()["code"] == 21205  # no <Connect><Stream>
    answer = requests.post(f"{running_kefu.settings.rasa_url}/ivr/phone/api/calls/CAnothing/answer", timeout=10)
    assert answer.status_code == 403  # only the softphone page's own requests


async def test_an_unanswered_demo_call_rings_out_and_is_retried_per_the_rules(running_kefu, repository):
    phone, ticket_id = resolved_ticket(repository, "fault", {"fault_type": "tv"})
    now = daytime_after(25)
    worker = demo_worker(running_kefu, now, ring_timeout_s=5)
    async with DemoPhone(running_kefu.settings.rasa_url, phone) as softphone:
        counts = await worker.run_pass()
        assert counts.get("placed", 0) >= 1
        ring = await softphone.next_ring()
        assert ring["to"] == phone and ring["from"] == carrier_account(running_kefu.settings).from_number
        # Nobody answers: after the 5 s ring the carrier reports no-answer; the next pass retries.
        contact = await until_contact(repository, lambda c: c["ticket_id"] == ticket_id and c["status"] == "scheduled",
                                      "the unanswered call to be rescheduled", timeout=30, worker=worker)
    rules = worker.rules()
    assert contact["attempts"] == 1 and contact["result"] == "no_answer"
    assert contact["details"]["last_carrier_status"] == "no-answer"  # the carrier's callback, not the lease
    assert contact["due_at"] == now + rules.retry_delays[0]
    assert repository.get_ticket(ticket_id)["status"] == "resolved"


async def _answer_and_press(softphone: DemoPhone, keys: list[tuple[str | None, str]]) -> PhoneCall:
    """Answer the next ring, open the stream the TwiML named, press each key into the prompt after its mark."""
    ring = await softphone.next_ring()
    status, call = await softphone.press(ring["sid"], "answer")
    assert status == 200
    async with PhoneCall(call["stream_url"], caller=call["parameters"]["caller"], flow=call["parameters"]["flow"],
                         parameters=call["parameters"]) as line:
        since = 0
        for mark, key in keys:
            since = await press_during_next_prompt(line, key, after_mark=mark, since=since)
        await line.wait_closed(30)
    status, _ = await softphone.press(ring["sid"], "hangup")
    assert status == 200
    return line


async def test_a_care_call_through_the_demo_carrier_records_the_answer_and_csat(running_kefu, repository):
    phone, ticket_id = resolved_ticket(repository, "service_change", {"service_action": "open"})
    worker = demo_worker(running_kefu, daytime_after(73))
    async with DemoPhone(running_kefu.settings.rasa_url, phone) as softphone:
        await worker.run_pass()
        line = await _answer_and_press(softphone, [("hello", "1"), (None, "4")])
    contact = await until_contact(repository, lambda c: c["ticket_id"] == ticket_id and c["status"] == "done",
                                  "the care contact to be done")
    assert contact["purpose"] == "care" and contact["result"] == "heard" and contact["attempts"] == 1
    events = repository.events_for(f"ivr:{line.stream_sid}")
    assert [e["data"]["score"] for e in events if e["kind"] == "csat_given"] == [4]


async def test_an_arrears_call_through_the_demo_carrier_is_heard(running_kefu, repository):
    customer_id, phone = new_customer(repository)
    with repository.engine.begin() as conn:
        conn.execute(customers.update().where(customers.c.id == customer_id).values(balance_cents=-4250))
    worker = demo_worker(running_kefu, daytime_after(1), messengers={})  # no SMS gateway: the phone is next
    async with DemoPhone(running_kefu.settings.rasa_url, phone) as softphone:
        await worker.run_pass()
        await _answer_and_press(softphone, [("hello", "1")])
    contact = await until_contact(repository, lambda c: c["customer_id"] == customer_id and c["purpose"] == "arrears"
                                  and c["status"] == "done", "the arrears contact to be done")
    assert contact["result"] == "heard" and contact["channel"] == "phone"
    assert Schedule(repository).attempts(contact["id"])[0]["channel"] == "phone"
