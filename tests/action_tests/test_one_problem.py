"""One customer, one problem, one ticket of each kind: a question or a repeat joins what is open.

Found by a tester who played one customer with one broadband outage over four contacts: a question
about the visit booked a second visit, a complaint on the phone duplicated the open complaint, and
"when will you call me back?" filed a second callback (journey REPORT, HIGH 1 and HIGH 3).
"""
from __future__ import annotations

import time

from actions.backend import repository
from bot.handoff.queue import HandoffRequest
from bot.handoff.waiting_tickets import agent_callback_ticket, promised_time
from bot.labels import labels
from tests.action_tests.trackers import load_tracker

VERIFIED = {"customer_id": "1", "verified_customer_id": "1", "verified_by": "service_password",
            "verified_channel": "rest"}


def tickets_of(kind: str, customer_id: int = 1) -> list[str]:
    return [t["ticket_id"] for t in repository().tickets_for(customer_id) if t["kind"] == kind]


def visit_done_and_told(customer_id: int = 1) -> str:
    """A visit the technician made, the customer told of the result (the ledger's 已处理, 已告知客户)."""
    repo = repository()
    repair = repo.create_ticket(kind="fault", customer_id=customer_id, summary="宽带断了",
                                details={"fault_type": "fault_broadband"})
    visit = repo.create_ticket(kind="visit", customer_id=customer_id, summary="客户预约上门：明天上午",
                               details={"fault_type": "fault_broadband", "related_ticket": repair})
    for status in ("resolved", "customer_told"):
        repo.move_ticket(visit, status)
    return visit


async def test_asking_about_a_visit_that_was_made_tells_its_state_and_books_nothing(run_action):
    visit = visit_done_and_told()

    turn = await run_action("action_book_visit", load_tracker(
        "query_bill", text="师傅上门的时间改好了吗", intent="book_visit", **VERIFIED))

    assert turn.responses == ["utter_visit_done_book_again"], "no 已为您预约上门服务 unasked"
    said = turn.message("utter_visit_done_book_again")
    assert said["ticket_id"] == visit
    assert said["status_label"] == labels()["ticket_status"]["customer_told"]
    assert tickets_of("visit") == [visit], "no second technician dispatched"
    assert turn.slots["awaiting"] == "visit_again"


async def test_asking_about_a_visit_still_to_come_tells_its_state_and_books_nothing(run_action):
    visit = repository().create_ticket(kind="visit", customer_id=1, summary="客户预约上门：明天上午")
    repository().move_ticket(visit, "assigned")

    turn = await run_action("action_book_visit", load_tracker(
        "query_bill", text="师傅上门的时间改好了吗", intent="book_visit", **VERIFIED))

    assert turn.responses == ["utter_ticket_status"], "a question: how it stands, no change noted"
    said = turn.message("utter_ticket_status")
    assert said["ticket_id"] == visit and said["status_label"] == labels()["ticket_status"]["assigned"]
    assert tickets_of("visit") == [visit]


async def test_a_second_visit_is_booked_once_the_customer_says_yes(run_action):
    visit = visit_done_and_told()
    repair = repository().get_ticket(visit)["details"]["related_ticket"]

    turn = await run_action("action_handle_affirm", answering_book_again(load_tracker(
        "query_bill", text="是的，再来一次", intent="affirm", awaiting="visit_again", **VERIFIED)))

    assert turn.responses == ["utter_visit_booked"]
    again = turn.message("utter_visit_booked")["ticket_id"]
    assert tickets_of("visit") == [again, visit]
    assert repository().get_ticket(again)["details"]["related_ticket"] == repair, "the same problem as the first"
    assert turn.slots["awaiting"] is None


async def test_a_yes_long_after_the_question_books_nothing(run_action):
    visit = visit_done_and_told()
    later = load_tracker("query_bill", text="师傅什么时候再来", intent="book_visit", awaiting="visit_again", **VERIFIED)
    later.events.insert(-2, {"event": "bot", "text": "您的账户目前没有欠费。",
                             "metadata": {"utter_action": "utter_bill_no_arrears"}})

    turn = await run_action("action_book_visit", later)

    assert turn.responses == ["utter_visit_done_book_again"] and tickets_of("visit") == [visit]


def answering_book_again(tracker):
    """The customer's latest message answers "book another visit?", the bot's last words."""
    tracker.events.insert(-2, {"event": "bot", "text": "需要再为您预约一次师傅上门吗？",
                               "metadata": {"utter_action": "utter_visit_done_book_again"}})
    return tracker


async def test_a_complaint_repeated_while_open_joins_it_and_says_which_and_how_it_stands(run_action):
    first = await run_action("action_complaint", load_tracker(
        "query_bill", text="师傅来过了还是没修好，我要投诉", intent="complaint", **VERIFIED))
    complaint = first.message("utter_complaint_recorded")["ticket_id"]

    again = await run_action("action_complaint", load_tracker(  # another day: another conversation
        "query_bill", text="宽带还是没修好我要投诉", intent="complaint", sender="u1-next-day", **VERIFIED))

    assert again.responses == ["utter_complaint_chased"]
    said = again.message("utter_complaint_chased")
    assert said["ticket_id"] == complaint and said["status_label"] == labels()["ticket_status"]["open"]
    assert tickets_of("complaint") == [complaint], "no second complaint"
    chase = repository().ticket_history(complaint)[-1]
    assert (chase["from_status"], chase["to_status"]) == ("open", "open") and "宽带还是没修好" in chase["note"]
    chased = [(e["data"]["ticket_id"], e["data"]["kind"]) for e in repository().events_for("u1-next-day")
              if e["kind"] == "ticket_chased"]
    assert chased == [(complaint, "complaint")]
    assert again.slots["awaiting"] == "offer_human"


async def test_a_complaint_repeated_by_someone_who_only_named_the_customer_learns_nothing_new(run_action):
    """Found in review: joined to the open complaint, the reply named its id, which told whoever holds the
    customer's number that they had complained before, and under which number. Now the request is one of
    its own, naming the open one for the agents."""
    complaint = repository().create_ticket(kind="complaint", customer_id=1, summary="客户投诉：乱扣费", priority=2,
                                           needs_human=True)
    history = repository().ticket_history(complaint)

    turn = await run_action("action_complaint", load_tracker(
        "query_bill", text="我要投诉", intent="complaint", customer_id="1"))

    assert turn.responses == ["utter_complaint_recorded"], "the reply a new complaint gets, no status"
    told = turn.message("utter_complaint_recorded")["ticket_id"]
    assert told != complaint and sorted(tickets_of("complaint")) == sorted([complaint, told])
    assert repository().get_ticket(told)["details"]["related_ticket_id"] == complaint
    assert repository().ticket_history(complaint) == history, "the open one is not chased"


async def test_asking_when_the_promised_callback_comes_names_it_and_its_time(run_action):
    now = time.time()
    promised, due = await agent_callback_ticket(HandoffRequest("wx-zhang", "wechat", "broadband", 0, "1", {}),
                                                phone="13800000001", note="", agent_id="demo", now=now,
                                                within_hours=2)

    turn = await run_action("action_leave_message", load_tracker(
        "query_bill", text="你们说的回电什么时候打给我", intent="leave_message", **VERIFIED))

    assert turn.responses == ["utter_callback_chased_by"]
    said = turn.message("utter_callback_chased_by")
    assert said["ticket_id"] == promised and said["callback_by"] == promised_time(due, now)
    assert said["phone_masked"] == "138****0001"
    assert tickets_of("callback") == [promised], "no second callback"
    assert repository().get_ticket(promised)["priority"] == 1, "asked again: more urgent"
    assert "回电什么时候打给我" in repository().ticket_history(promised)[-1]["note"]
