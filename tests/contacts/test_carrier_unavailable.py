"""A call that never went out, for a reason on Kefu's side, is no attempt at the customer.

Found in review: the telephony API being down (connection refused, 5xx), overloaded (429) or refusing
Kefu's own credentials counted as an attempt at the customer, like a call nobody answered: a 30-minute
carrier outage at 08:00 used up that morning's retry delays and the customer's daily limit, and a contact
could end `failed` with no call ever made. Such a call is now taken back and tried again in 5 minutes. A
call the carrier may have (no answer in time) or refused for itself (a bad number) still counts."""
from __future__ import annotations

import datetime as dt

import pytest

from bot.contacts.dialer import Dialer
from bot.contacts.rules import load_rules
from bot.contacts.schedule import Schedule
from bot.contacts.worker import CARRIER_PAUSE, ContactWorker
from bot.embedded_redis import free_port
from bot.ledger.rules import load_rules as load_ledger_rules
from tests.contacts.conftest import CUSTOMER_PHONE, followup_calls, resolved_repair


def worker_with(kefu_env, repository, clock, dialer: Dialer) -> ContactWorker:
    return ContactWorker(repository, rules=lambda: load_rules(kefu_env.content_dir / "contacts.yml"),
                         ledger_rules=lambda: load_ledger_rules(kefu_env.content_dir / "ledger.yml"),
                         dialer=dialer, clock=clock)


@pytest.mark.parametrize("why", ["nothing listens", "wrong credentials"])
async def test_a_call_that_never_went_out_uses_up_no_attempt(kefu_env, repository, clock, telephony, why):
    resolved_repair(repository)  # its follow-up call is due now
    url, token = (f"http://127.0.0.1:{free_port()}", telephony.auth_token) if why == "nothing listens" \
        else (telephony.url, "not-the-token")
    dialer = Dialer(url, telephony.account_sid, token, "+8657188880000", "ws://127.0.0.1:9/webhooks/ivr/media")
    await worker_with(kefu_env, repository, clock, dialer).run_pass()

    schedule = Schedule(repository)
    (followup,) = schedule.listing(purpose="followup")
    assert (followup["status"], followup["attempts"], followup["result"]) == ("scheduled", 0, "carrier_unavailable")
    assert followup["due_at"] == clock.now + CARRIER_PAUSE
    assert schedule.attempts(followup["id"]) == []
    assert schedule.attempts_since(f"phone:{CUSTOMER_PHONE}", clock.now - dt.timedelta(days=1)) == 0

    clock.advance(minutes=5)  # the carrier is back
    await worker_with(kefu_env, repository, clock, Dialer(
        telephony.url, telephony.account_sid, telephony.auth_token, "+8657188880000",
        "ws://127.0.0.1:9/webhooks/ivr/media")).run_pass()
    assert len(followup_calls(telephony)) == 1
    assert schedule.get(followup["id"])["attempts"] == 1
