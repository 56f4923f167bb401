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
