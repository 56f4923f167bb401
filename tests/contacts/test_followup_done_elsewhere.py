"""A repair's follow-up is scheduled a day after it is resolved. If someone follows it up meanwhile — an
agent who rang the customer closes 已回访 on the ledger, or the dispatch system reports
``follow_up_done`` — the automated call must not ask the customer "问题解决了吗？" and for a rating
again: it is not made, and the ledger shows why."""
from __future__ import annotations

import datetime as dt
import json

from bot.contacts.schedule import Schedule
from tests.contacts.conftest import followup_calls, resolved_repair


async def test_a_follow_up_done_by_a_person_is_not_made_again_by_the_robot(kefu_env, repository, make_worker,
                                                                            telephony, clock):
    ticket_id = resolved_repair(repository)
    due_later = clock.now
    clock.now = dt.datetime.utcnow() + dt.timedelta(hours=1)  # the pass that schedules it, a day before it is due
    worker = make_worker()
    await worker.run_pass()
    [contact] = [c for c in Schedule(repository).listing() if c["ticket_id"] == ticket_id]
    assert contact["status"] == "scheduled"

    repository.move_ticket(ticket_id, "follow_up_done", note="agent rang the customer: all fine")
    clock.now = due_later
    await worker.run_pass()
    assert followup_calls(telephony) == []
    contact = Schedule(repository).get(contact["id"])
    assert (contact["status"], contact["result"], contact["attempts"]) == ("done", "followed_up", 0)
    labels = json.loads((kefu_env.content_dir / "ui" / "ledger.zh.json").read_text(encoding="utf-8"))
    assert labels[f"result_{contact['result']}"]  # the ledger page says why


async def test_a_follow_up_of_a_repair_reopened_meanwhile_waits_for_the_next_resolution(
        kefu_env, repository, make_worker, telephony, clock):
    """The customer reported the fault again before the follow-up: asking "问题解决了吗？" about a repair
    being redone answers nothing (keys 1 and 2 change no open ticket). The next resolution schedules
    its own follow-up."""
    ticket_id = resolved_repair(repository)
    due_later = clock.now
    clock.now = dt.datetime.utcnow() + dt.timedelta(hours=1)
    worker = make_worker()
    await worker.run_pass()
    [first] = [c for c in Schedule(repository).listing() if c["ticket_id"] == ticket_id]

    repository.move_ticket(ticket_id, "open", note="customer: still no signal")
    clock.now = due_later
    await worker.run_pass()
    assert followup_calls(telephony) == []
    first = Schedule(repository).get(first["id"])
    assert (first["status"], first["result"], first["attempts"]) == ("done", "reopened", 0)
    labels = json.loads((kefu_env.content_dir / "ui" / "ledger.zh.json").read_text(encoding="utf-8"))
    assert labels["result_reopened"]

    repository.move_ticket(ticket_id, "resolved", note="cable replaced")
    clock.now = due_later + dt.timedelta(days=1)  # 10:00 in Shanghai, a day on
    await worker.run_pass()
    assert len(followup_calls(telephony)) == 1  # the second resolution's follow-up
