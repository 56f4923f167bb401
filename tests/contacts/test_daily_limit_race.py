"""The daily attempt limit when several workers attempt one customer's contacts at the same moment
(one per `kefu run`): each passed the gate's count before any attempt was recorded."""
from __future__ import annotations

import asyncio
import threading

from bot.contacts.decision import ContactGate
from bot.contacts.rules import load_rules
from bot.contacts.schedule import Schedule
from bot.contacts.worker import CLAIM_LEASE, ContactWorker
from tests.contacts.conftest import CUSTOMER_PHONE, followup_calls


async def test_workers_racing_for_one_customer_keep_the_daily_limit(kefu_env, repository, make_worker, telephony,
                                                                     clock):
    rules = load_rules(kefu_env.content_dir / "contacts.yml")
    customer = repository.find_customer(phone=CUSTOMER_PHONE)
    schedule = Schedule(repository)
    ids = [schedule.add(dedupe_key=f"race-{n}", purpose="followup", rule="repair_followup", due_at=clock.now,
                        channels=["phone"], customer_id=customer.id, phone=CUSTOMER_PHONE)
           for n in range(rules.daily_attempt_limit + 1)]
    decided = threading.Barrier(len(ids), timeout=30)

    class DecidingTogether(ContactGate):
        def decide(self, *args, **kwargs):
            decision = super().decide(*args, **kwargs)
            decided.wait()  # every worker has passed the gate before any of them counts its attempt
            return decision

    class RacingWorker(ContactWorker):
        @property
        def gate(self) -> ContactGate:
            gate = super().gate
            return DecidingTogether(gate.repository, gate.channels, gate.withheld_phones)

    dialer = make_worker().dialer
    workers = [RacingWorker(repository, rules=lambda: rules, ledger_rules=make_worker().ledger_rules, dialer=dialer,
                            clock=clock) for _ in ids]
    tokens = [schedule.claim(contact_id, worker.name, clock.now, CLAIM_LEASE) for contact_id, worker in zip(ids, workers)]
    outcomes = await asyncio.gather(*(worker.attempt(schedule.get(contact_id), token, rules, clock.now)
                                      for worker, contact_id, token in zip(workers, ids, tokens)))

    assert len(followup_calls(telephony)) == rules.daily_attempt_limit
    assert sorted(outcomes) == ["daily_limit"] + ["placed"] * rules.daily_attempt_limit
    late = schedule.get(ids[outcomes.index("daily_limit")])
    assert (late["status"], late["result"], late["attempts"]) == ("scheduled", "daily_limit", 0)
    assert late["due_at"] == rules.next_day_open(clock.now)
