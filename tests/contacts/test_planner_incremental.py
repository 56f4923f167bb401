"""The planner reads only what changed: a pass with no ticket changed reads no ticket, a change is
planned on the next pass (a repeat fault against the customer's older tickets too), and new rules
apply to the tickets already there."""
from __future__ import annotations

import dataclasses
import datetime as dt
import re
from types import MappingProxyType

import sqlalchemy as sa

from bot.contacts.planner import Planner
from bot.contacts.rules import load_rules
from bot.contacts.schedule import Schedule
from bot.ledger.rules import load_rules as load_ledger_rules
from tests.contacts.conftest import CUSTOMER_PHONE, resolved_repair


def planner(kefu_env, repository, rules=None) -> Planner:
    return Planner(repository, rules or load_rules(kefu_env.content_dir / "contacts.yml"),
                   load_ledger_rules(kefu_env.content_dir / "ledger.yml"))


class TicketReads:
    """Counts the statements that read the tickets table."""

    def __init__(self, engine) -> None:
        self.count = 0
        sa.event.listen(engine, "before_cursor_execute", self._seen)
        self.engine = engine

    def _seen(self, conn, cursor, statement, *args) -> None:
        self.count += bool(re.search(r"\bFROM tickets\b", statement))

    def close(self) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self._seen)


def keys(repository) -> list[str]:
    return sorted(c["dedupe_key"] for c in Schedule(repository).listing(limit=10_000))


def test_a_pass_with_nothing_changed_reads_no_ticket(kefu_env, repository):
    for _ in range(3):
        resolved_repair(repository)
    now = dt.datetime.utcnow()
    first = planner(kefu_env, repository)
    assert len(first.plan(now)) >= 3
    reads = TicketReads(repository.engine)
    try:
        assert planner(kefu_env, repository).plan(now + dt.timedelta(seconds=5)) == []
        assert reads.count == 0
    finally:
        reads.close()


def test_changes_after_a_pass_are_planned_on_the_next(kefu_env, repository):
    now = dt.datetime.utcnow()
    customer = repository.find_customer(phone=CUSTOMER_PHONE)
    repository.create_ticket(kind="fault", customer_id=customer.id, summary="no signal",
                             details={"fault_type": "tv"}, channel="webchat")
    planner(kefu_env, repository).plan(now)
    before = keys(repository)
    ticket_id = resolved_repair(repository)  # the same fault again: a repeat, and resolved
    planner(kefu_env, repository).plan(now)
    added = sorted(set(keys(repository)) - set(before))
    assert added == sorted([f"care_repeat_fault:{ticket_id}", f"repair_followup:{ticket_id}:1"])


def test_a_new_rule_applies_to_tickets_planned_before(kefu_env, repository):
    now = dt.datetime.utcnow()
    ticket_id = repository.create_ticket(kind="complaint", customer_id=repository.find_customer(
        phone=CUSTOMER_PHONE).id, summary="rude installer", channel="webchat")
    repository.move_ticket(ticket_id, "resolved", note="apologised")
    rules = load_rules(kefu_env.content_dir / "contacts.yml")
    planner(kefu_env, repository, rules).plan(now)
    assert not [k for k in keys(repository) if ticket_id in k]  # no rule follows complaints up yet
    followup = rules.rules["repair_followup"]
    complaints = dataclasses.replace(followup, name="complaint_followup", ticket_kinds=("complaint",))
    edited = dataclasses.replace(rules, rules=MappingProxyType({**rules.rules, "complaint_followup": complaints}))
    planner(kefu_env, repository, edited).plan(now)
    assert f"complaint_followup:{ticket_id}:1" in keys(repository)


def care_calls(repository, customer_id: int) -> list[dict]:
    return [c for c in Schedule(repository).listing(limit=10_000)
            if c["rule"] == "care_repeat_fault" and c["customer_id"] == customer_id]


def test_one_customer_with_one_problem_gets_one_care_call_however_often_it_comes_back(kefu_env, repository):
    """Found by a tester: one outage scheduled five care calls to the same customer (one for a callback
    ticket); the agents would have rung him five times."""
    now = dt.datetime.utcnow()
    customer = repository.find_customer(phone=CUSTOMER_PHONE)

    def reported(kind: str = "fault", fault: str = "fault_broadband") -> str:
        return repository.create_ticket(kind=kind, customer_id=customer.id, summary=kind,
                                        details={"fault_type": fault}, channel="wechat")

    reported()
    second = reported()
    planner(kefu_env, repository).plan(now)
    for kind in ("fault", "visit", "callback", "complaint", "fault"):
        reported(kind)
        planner(kefu_env, repository).plan(now + dt.timedelta(minutes=1))

    assert [c["ticket_id"] for c in care_calls(repository, customer.id)] == [second]
    tv = reported(fault="fault_tv")
    reported(fault="fault_tv")
    planner(kefu_env, repository).plan(now + dt.timedelta(minutes=2))
    assert len(care_calls(repository, customer.id)) == 2 and tv not in {c["ticket_id"] for c in care_calls(
        repository, customer.id)}, "another problem is another call, for its repeat"
