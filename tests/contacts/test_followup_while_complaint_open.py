"""The automated follow-up call is not made while the customer has an open complaint: the complaint's
handler gets it. Found by a cross-channel journey tester: the call asked "问题解决了吗？" (and for a
rating) while the customer's complaint about that repair was still being handled."""
from __future__ import annotations

import sqlalchemy as sa

from bot.contacts.schedule import Schedule
from bot.db.schema import conversation_events
from bot.ticket_notes import history_line
from tests.contacts.conftest import CUSTOMER_PHONE, followup_calls, resolved_repair


def complaint_of(repository, phone: str = CUSTOMER_PHONE) -> str:
    customer = repository.find_customer(phone=phone)
    return repository.create_ticket(kind="complaint", customer_id=customer.id, summary="客户投诉：修了三次还是没信号",
                                    details={"fault_type": "fault_tv"}, priority=2, needs_human=True, channel="wechat")


def followup_of(repository, ticket_id: str) -> dict:
    return next(c for c in Schedule(repository).listing() if c["ticket_id"] == ticket_id and c["purpose"] == "followup")


async def test_no_follow_up_call_while_the_customer_has_an_open_complaint(repository, make_worker, telephony):
    repair = resolved_repair(repository)
    complaint = complaint_of(repository)

    await make_worker().run_pass()

    assert followup_calls(telephony) == [], "the robot asked 问题解决了吗 during the complaint"
    contact = followup_of(repository, repair)
    assert (contact["status"], contact["result"]) == ("held", "open_complaint")
    note = history_line(repository.ticket_history(complaint)[-1]["note"])  # as the agents read it
    assert repair in note and "回访" in note, "the complaint's handler is told the follow-up is theirs"
    with repository.engine.connect() as conn:
        skipped = conn.execute(sa.select(conversation_events.c.data).where(
            conversation_events.c.kind == "contact_skipped")).scalars().all()
    assert [(d["reason"], d["complaint_id"]) for d in skipped] == [("open_complaint", complaint)]


async def test_a_held_follow_up_is_not_made_later_on_its_own(repository, make_worker, telephony, clock):
    repair = resolved_repair(repository)
    complaint = complaint_of(repository)
    await make_worker().run_pass()
    repository.move_ticket(complaint, "resolved", note="handler called the customer")

    clock.advance(hours=2)
    await make_worker().run_pass()

    assert followup_calls(telephony) == [] and followup_of(repository, repair)["status"] == "held"


async def test_a_complaint_already_resolved_does_not_hold_the_follow_up(repository, make_worker, telephony):
    resolved_repair(repository)
    repository.move_ticket(complaint_of(repository), "resolved", note="settled")

    await make_worker().run_pass()

    assert len(followup_calls(telephony)) == 1


async def test_another_customers_complaint_holds_nothing(repository, make_worker, telephony):
    resolved_repair(repository)
    complaint_of(repository, phone="13800000003")

    await make_worker().run_pass()

    assert len(followup_calls(telephony)) == 1
