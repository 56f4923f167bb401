"""A pass places its calls one after another, each a request to the carrier that may take up to the
dialer's 10 s: at peak, with many contacts due, a pass lasts minutes. Each contact is judged, claimed
and timed when the worker gets to it, not when the pass began: a call placed late in a long pass rang
while the schedule already counted it as not answered (the customer's answer then counted for
nothing and they were called again), and a pass begun just before the quiet hours went on calling
into them."""
from __future__ import annotations

import datetime as dt

from bot.contacts.answers import apply_answer
from bot.contacts.dialer import Dialer
from bot.contacts.rules import load_rules
from bot.contacts.schedule import Schedule
from bot.contacts.worker import ContactWorker
from bot.ledger.rules import load_rules as load_ledger_rules

CARRIER_ANSWERS_IN = dt.timedelta(seconds=10)  # the dialer's timeout: a slow carrier at peak


def worker_with_a_slow_carrier(kefu_env, repository, clock, telephony, dialled: list | None = None) -> ContactWorker:
    """``dialled`` gets (number, time) of each call as the worker asks the carrier for it."""
    class SlowCarrier(Dialer):
        async def place(self, to, **kwargs):
            if dialled is not None:
                dialled.append((to, clock.now))
            placed = await super().place(to, **kwargs)
            clock.advance(seconds=CARRIER_ANSWERS_IN.total_seconds())  # the time the carrier took to answer
            return placed

    dialer = SlowCarrier(telephony.url, telephony.account_sid, telephony.auth_token, "+8657188880000",
                         "ws://127.0.0.1:9/webhooks/ivr/media")
    return ContactWorker(repository, rules=lambda: load_rules(kefu_env.content_dir / "contacts.yml"),
                         ledger_rules=lambda: load_ledger_rules(kefu_env.content_dir / "ledger.yml"),
                         dialer=dialer, clock=clock)


def due_calls(repository, now: dt.datetime, count: int) -> list[int]:
    schedule = Schedule(repository)
    return [schedule.add(dedupe_key=f"long-pass:{i}", purpose="followup", rule="repair_followup", due_at=now,
                         channels=["phone"], phone=f"139000002{i:02d}") for i in range(count)]


async def test_a_call_placed_late_in_a_long_pass_is_not_counted_unanswered_while_it_rings(
        kefu_env, repository, telephony, clock):
    ids = due_calls(repository, clock.now, 40)  # 40 calls at 10 s: a pass of nearly 7 minutes
    worker = worker_with_a_slow_carrier(kefu_env, repository, clock, telephony)
    await worker.run_pass()
    last = Schedule(repository).get(ids[-1])
    [call] = [c for c in telephony.calls if c.to == last["phone"]]
    assert last["status"] == "calling" and call.parameters["kefuContact"] == last["attempt_token"]

    await worker.run_pass()  # the next pass, moments after the last call was placed: it is ringing
    assert Schedule(repository).get(ids[-1])["status"] == "calling"
    assert await apply_answer(repository, last["attempt_token"], "fixed", conversation_id="ivr:long-pass-last")
    assert len([c for c in telephony.calls if c.to == last["phone"]]) == 1


async def test_a_pass_begun_before_the_quiet_hours_places_no_call_in_them(kefu_env, repository, telephony, clock):
    rules = load_rules(kefu_env.content_dir / "contacts.yml")
    clock.now = clock.now.replace(hour=12, minute=58)  # 20:58 in Shanghai; quiet from 21:00
    ids = due_calls(repository, clock.now, 30)  # five minutes of dialling
    dialled: list = []
    await worker_with_a_slow_carrier(kefu_env, repository, clock, telephony, dialled).run_pass()
    assert dialled, "the calls due before the quiet hours are placed"
    waiting = [Schedule(repository).get(i) for i in ids[len(dialled):]]
    assert waiting and {(c["status"], c["result"]) for c in waiting} == {("scheduled", "quiet_hours")}
    assert [(to, at) for to, at in dialled if rules.in_quiet_hours(at)] == []
    attempts = [a for c in Schedule(repository).listing() for a in Schedule(repository).attempts(c["id"])]
    assert sorted(a["at"] for a in attempts) == sorted(at for _, at in dialled)  # counted when made
