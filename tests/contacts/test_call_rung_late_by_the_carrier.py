"""When the quiet hours end every postponed contact is due at once, and a carrier dials at its own pace
(Twilio: one call a second per account, the rest queued): a call placed at 08:00 may ring minutes
later. Its time to ring and to last counted from when it was placed, so the schedule took an answered
call for unanswered while the customer was still keying their answer — which then answered for nothing,
and they were called again. The carrier's ``ringing`` and ``in-progress`` callbacks start that time."""
from __future__ import annotations

import datetime as dt

from bot.contacts.answers import apply_answer
from bot.contacts.rules import load_rules
from bot.contacts.schedule import Schedule
from bot.contacts.status import record_call_status
from tests.contacts.conftest import followup_calls, resolved_repair


async def rung_late_and_answered(repository, worker, rules, clock, call, contact: dict) -> None:
    """The carrier rings ``call`` minutes after it was placed and the customer answers it; the worker's pass
    past its ring and call time from the placing must leave it open, and the answer counts."""
    clock.advance(seconds=280)  # queued at the carrier behind the morning's other calls
    assert record_call_status(repository, {"CallSid": call.sid, "CallStatus": "ringing"}, rules, now=clock.now)
    clock.advance(seconds=15)
    assert record_call_status(repository, {"CallSid": call.sid, "CallStatus": "in-progress"}, rules, now=clock.now)
    clock.advance(seconds=90)  # past ring and call time from the placing, a minute and a half into the call
    await worker.run_pass()
    assert Schedule(repository).get(contact["id"])["status"] == "calling"
    assert await apply_answer(repository, contact["attempt_token"], "fixed", conversation_id=f"ivr:{call.sid}")


async def test_a_call_the_carrier_rang_late_is_not_retried_while_the_customer_answers(kefu_env, repository,
                                                                                      make_worker, telephony, clock):
    rules = load_rules(kefu_env.content_dir / "contacts.yml")
    ticket_id = resolved_repair(repository)
    worker = make_worker()
    await worker.run_pass()
    [call] = followup_calls(telephony)
    [contact] = [c for c in Schedule(repository).listing() if c["ticket_id"] == ticket_id]

    await rung_late_and_answered(repository, worker, rules, clock, call, contact)
    assert repository.get_ticket(ticket_id)["status"] == "follow_up_done"
    clock.advance(hours=3)
    await worker.run_pass()
    assert len(followup_calls(telephony)) == 1  # not called again


async def test_progress_after_the_call_ended_does_not_keep_it_open(kefu_env, repository, make_worker, telephony,
                                                                   clock):
    """Callbacks may arrive out of order: a late ``in-progress`` after ``no-answer`` changes nothing."""
    rules = load_rules(kefu_env.content_dir / "contacts.yml")
    ticket_id = resolved_repair(repository)
    worker = make_worker()
    await worker.run_pass()
    [call] = followup_calls(telephony)
    clock.advance(seconds=45)
    assert record_call_status(repository, {"CallSid": call.sid, "CallStatus": "no-answer"}, rules, now=clock.now)
    assert not record_call_status(repository, {"CallSid": call.sid, "CallStatus": "in-progress"}, rules,
                                  now=clock.now)
    clock.advance(seconds=1)
    await worker.run_pass()
    [contact] = [c for c in Schedule(repository).listing() if c["ticket_id"] == ticket_id]
    assert (contact["status"], contact["result"]) == ("scheduled", "no_answer")
    assert contact["due_at"] == clock.now + dt.timedelta(minutes=30)


async def test_a_retry_call_the_carrier_rang_late_is_not_retried_while_the_customer_answers(kefu_env, repository,
                                                                                            make_worker, telephony,
                                                                                            clock):
    """The first call went unanswered (the carrier said ``no-answer``); its retry, queued at the carrier, rings
    late and is answered. The first call's final status must not make the retry's ``ringing`` and
    ``in-progress`` count for nothing (the customer answering the retry was called a third time)."""
    rules = load_rules(kefu_env.content_dir / "contacts.yml")
    ticket_id = resolved_repair(repository)
    worker = make_worker()
    await worker.run_pass()
    [first] = followup_calls(telephony)
    clock.advance(seconds=45)
    assert record_call_status(repository, {"CallSid": first.sid, "CallStatus": "no-answer"}, rules, now=clock.now)
    clock.advance(seconds=1)
    await worker.run_pass()
    [contact] = [c for c in Schedule(repository).listing() if c["ticket_id"] == ticket_id]
    assert (contact["status"], contact["result"]) == ("scheduled", "no_answer")

    clock.now = contact["due_at"]
    await worker.run_pass()  # the retry
    [_, retry] = followup_calls(telephony)
    contact = Schedule(repository).get(contact["id"])
    await rung_late_and_answered(repository, worker, rules, clock, retry, contact)
    assert repository.get_ticket(ticket_id)["status"] == "follow_up_done"
    clock.advance(hours=3)
    await worker.run_pass()
    assert len(followup_calls(telephony)) == 2  # not called a third time
