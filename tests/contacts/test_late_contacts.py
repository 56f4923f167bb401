"""A contact is first tried at most its purpose's ``late_limit_hours`` after it came due, whatever made it
late. Found in review: the limit covered only contacts waiting for a channel, so a follow-up ("您报修的
问题已处理…") the planner found late — no worker had run for weeks, or a rule was added and applied to the
repairs of the last 60 days — rang the customer about a repair three weeks old. Past the limit it ends
``failed`` (result ``too_late``) with a final ``contact_skipped`` event, never made; a retry after no answer
is part of the contact's plan and is not cut short.
"""
from __future__ import annotations

import datetime as dt

import pytest
import yaml

from bot.contacts.dialer import Dialer
from bot.contacts.rules import load_rules
from bot.contacts.schedule import Schedule
from bot.contacts.worker import ContactWorker
from bot.ledger.rules import load_rules as load_ledger_rules
from tests.contacts.conftest import followup_calls, resolved_repair
from tests.contacts.test_no_channel_wait_limit import rules_file

HOUR = dt.timedelta(hours=1)


def worker_with(kefu_env, repository, clock, telephony, tmp_path, late_limit: dict | None = None) -> ContactWorker:
    """A worker calling through the loopback carrier, with the shipped rules (``late_limit_hours`` as given)."""
    path = rules_file(kefu_env, tmp_path, late_limit)
    dialer = Dialer(telephony.url, telephony.account_sid, telephony.auth_token, "+8657188880000",
                    "ws://127.0.0.1:9/webhooks/ivr/media")
    return ContactWorker(repository, rules=lambda: load_rules(path),
                         ledger_rules=lambda: load_ledger_rules(kefu_env.content_dir / "ledger.yml"),
                         dialer=dialer, clock=clock)


def followup_due(repository, ticket_id: str) -> dt.datetime:
    """When the repair's follow-up comes due: a day after its resolution (the shipped rule)."""
    [resolved] = [row["at"] for row in repository.ticket_histories([ticket_id])[ticket_id]
                  if row["to_status"] == "resolved"]
    return resolved + dt.timedelta(hours=24)


def followup_of(repository, ticket_id: str) -> dict:
    [contact] = [c for c in Schedule(repository).listing() if c["ticket_id"] == ticket_id
                 and c["rule"] == "repair_followup"]
    return contact


@pytest.mark.parametrize("late_limit, days_late, made", [
    (None, 6, True),  # the shipped limit for a follow-up: a week
    (None, 20, False),
    ({"followup": 12}, 1, False),  # the editors' own
], ids=["6-days-late", "20-days-late", "past-the-editors-limit"])
async def test_a_follow_up_found_late_is_not_made_past_its_limit(
        kefu_env, repository, clock, telephony, tmp_path, late_limit, days_late, made):
    ticket_id = resolved_repair(repository)  # resolved now: its follow-up is due a day later, the clock's day
    clock.advance(days=days_late)  # 10:00 in Shanghai, days_late to days_late + 1 after it came due: the first pass
    await worker_with(kefu_env, repository, clock, telephony, tmp_path, late_limit).run_pass()

    contact = followup_of(repository, ticket_id)
    skipped = [e["data"] for e in repository.events_for(f"contact:{contact['id']}") if e["kind"] == "contact_skipped"]
    if made:
        assert len(followup_calls(telephony)) == 1 and contact["status"] == "calling"
        assert skipped == []
    else:
        assert followup_calls(telephony) == []
        assert (contact["status"], contact["result"], contact["attempts"]) == ("failed", "too_late", 0)
        assert [(e["reason"], e.get("final")) for e in skipped] == [("too_late", True)]


async def test_a_retry_after_no_answer_is_not_cut_short_by_the_limit(kefu_env, repository, clock, telephony, tmp_path):
    ticket_id = resolved_repair(repository)
    late = clock.now - followup_due(repository, ticket_id)  # 10:00 in Shanghai, up to a day after it came due
    worker = worker_with(kefu_env, repository, clock, telephony, tmp_path, {"followup": late / HOUR + 1})
    await worker.run_pass()
    assert len(followup_calls(telephony)) == 1
    clock.advance(minutes=6)  # past ring + call timeout: nobody answered, tried again in 30 minutes
    await worker.run_pass()
    assert followup_of(repository, ticket_id)["result"] == "no_answer"
    clock.advance(hours=2)  # past the limit now (an hour after the first call), and past the retry's delay
    await worker.run_pass()
    assert len(followup_calls(telephony)) == 2  # tried again: the contact was first made in time


def test_the_limit_under_its_earlier_name_is_refused_with_its_new_one(kefu_env, tmp_path):
    from bot.contacts.rules import ContactRulesError

    raw = yaml.safe_load((kefu_env.content_dir / "contacts.yml").read_text(encoding="utf-8"))
    raw["no_channel_wait_hours"] = raw.pop("late_limit_hours")
    path = tmp_path / "contacts.yml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ContactRulesError, match="no_channel_wait_hours is now late_limit_hours"):
        load_rules(path)
