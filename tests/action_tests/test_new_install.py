"""A new install (报装) is asked for by someone who is usually no customer yet: any mobile number is
taken to call back (found trying the chat: "我要报装宽带" was asked for a registered number or account)."""
from __future__ import annotations

from actions.backend import repository
from tests.action_tests.test_account_actions import proven
from tests.action_tests.trackers import entity, load_tracker

INSTALL = entity("service_action", "install")


async def test_a_prospective_customer_is_asked_for_any_number_and_called_back_on_it(run_action):
    asked = await run_action("action_manage_service", load_tracker(
        "query_bill", text="我要报装宽带", intent="manage_service", entities=[INSTALL]))
    assert asked.responses == ["utter_ack_new_install", "utter_ask_contact_number"]
    assert asked.slots["pending_request"] == "action_new_install"

    typed = load_tracker("query_bill", text="13999999997", intent="inform", entities=[entity("phone_number", "13999999997")],
                         pending_request="action_new_install", awaiting="identity", service_action="install")
    turn = await run_action("action_identify_customer", typed)
    told = turn.message("utter_new_install_recorded")
    assert turn.responses == ["utter_new_install_recorded"] and told["phone_masked"] == "139****9997"
    assert told["service_action_label"] == "新装宽带/电视"
    ticket = repository().get_ticket(told["ticket_id"])
    assert ticket["customer_id"] is None and ticket["details"]["callback_phone"] == "13999999997"
    assert ticket["kind"] == "service_change" and ticket["details"]["service_action"] == "install"
    assert ticket["needs_human"] and "新装" in ticket["summary"]


async def test_words_without_a_number_get_the_contact_question_again_not_the_registered_numbers(run_action):
    typed = load_tracker("query_bill", text="这个要登记什么", intent="inform", pending_request="action_new_install",
                         awaiting="identity")
    assert (await run_action("action_identify_customer", typed)).responses == ["utter_ask_contact_number"]



async def test_a_new_install_asked_with_how_to_do_it_is_a_new_install(run_action):
    """"新装宽带怎么办理" names both 新装 (install) and 办理 (open an add-on on one's account)."""
    tracker = load_tracker("query_bill", text="新装宽带怎么办理", intent="manage_service",
                           entities=[INSTALL, entity("service_action", "open")])
    assert (await run_action("action_manage_service", tracker)).responses == ["utter_ack_new_install",
                                                                             "utter_ask_contact_number"]


async def test_a_customers_new_install_goes_on_their_account(run_action):
    tracker = load_tracker("query_bill", text="老家想再装一条宽带", intent="manage_service", entities=[INSTALL], **proven(1))
    told = (await run_action("action_manage_service", tracker)).message("utter_new_install_recorded")
    ticket = repository().get_ticket(told["ticket_id"])
    assert ticket["customer_id"] == 1 and ticket["details"]["service_action"] == "install"
    assert "老家想再装一条宽带" in ticket["summary"]


async def test_other_service_changes_still_need_the_account_holder(run_action):
    tracker = load_tracker("query_bill", text="我要报停", intent="manage_service", entities=[entity("service_action", "suspend")])
    assert (await run_action("action_manage_service", tracker)).responses == ["utter_ack_service_change", "utter_ask_identity"]


async def test_a_visit_asked_for_to_install_is_a_new_install(run_action):
    """"新房子要装宽带 约个时间" reads as a visit booking, which needs the proven account holder."""
    tracker = load_tracker("query_bill", text="新房子要装宽带 约个时间", intent="book_visit", entities=[INSTALL])
    turn = await run_action("action_book_visit", tracker)
    assert turn.responses == ["utter_ack_new_install", "utter_ask_contact_number"]
    assert turn.slots["pending_request"] == "action_new_install"


def said_before(tracker, *turns: tuple[str, str, list]):
    """``tracker`` with the customer's earlier turns (text, intent, entities) before its latest message."""
    last = max(i for i, e in enumerate(tracker.events) if e.get("event") == "user")
    for text, intent, entities in reversed(turns):
        tracker.events.insert(last, {"event": "user", "text": text, "input_channel": "rest",
                                     "parse_data": {"intent": {"name": intent}, "entities": entities}})
    return tracker


async def test_a_time_given_for_the_install_is_not_a_visit_to_an_account_and_goes_on_the_ticket(run_action):
    """Found trying the chat: "新房子要装宽带 约个时间", then "这周六上午" for the install, was a visit booking,
    which asked for the number registered with us (and proof) — and the ticket would have kept only the time."""
    time_given = load_tracker("query_bill", text="这周六上午", intent="book_visit",
                              pending_request="action_new_install", awaiting="identity")
    asked = await run_action("action_book_visit", said_before(time_given, ("新房子要装宽带 约个时间", "book_visit", [INSTALL])))
    assert asked.responses == ["utter_ask_contact_number"]  # what will happen was said with the first question

    typed = load_tracker("query_bill", text="13999999992", intent="inform", entities=[entity("phone_number", "13999999992")],
                         pending_request="action_new_install", awaiting="identity")
    said_before(typed, ("新房子要装宽带 约个时间", "book_visit", [INSTALL]), ("这周六上午", "book_visit", []))
    told = (await run_action("action_identify_customer", typed)).message("utter_new_install_recorded")
    said = repository().get_ticket(told["ticket_id"])["details"]["customer_said"]
    assert "新房子要装宽带" in said and "这周六上午" in said and "13999999992" not in said


async def test_a_service_asked_for_without_saying_which_is_asked_which_before_any_number(run_action):
    """Found trying the chat: "我想办宽带" was asked for the number registered with us first, so someone who is
    no customer never saw the new install among the choices."""
    turn = await run_action("action_manage_service", load_tracker("query_bill", text="我想办宽带", intent="manage_service"))
    assert turn.responses == ["utter_ask_service_action"]


async def test_opening_a_service_asked_by_someone_unknown_offers_the_new_install_before_any_number(run_action):
    """Found trying the chat: "宽带怎么办理" (办理 names opening a service) asked a prospective customer for the
    registered number and then a code; "我还不是你们用户" there was filed as a complaint."""
    asked = load_tracker("query_bill", text="宽带怎么办理", intent="manage_service", entities=[entity("service_action", "open")])
    assert (await run_action("action_manage_service", asked)).responses == ["utter_ask_service_action"]

    chosen = load_tracker("query_bill", text='/manage_service{"service_action": "open"}', intent="manage_service",
                          entities=[entity("service_action", "open")])
    assert (await run_action("action_manage_service", chosen)).responses == ["utter_ack_service_change", "utter_ask_identity"]

    customer = load_tracker("query_bill", text="我要开通4K电视包", intent="manage_service",
                            entities=[entity("service_action", "open")], **proven(1))
    assert (await run_action("action_manage_service", customer)).responses == ["utter_service_change_recorded_as_said"]


async def test_where_to_install_said_before_the_number_goes_on_the_ticket_and_the_number_is_asked_again(run_action):
    """Found trying the chat: "我想装个宽带", then "我家在天河区" before the number, got 抱歉，我没太明白."""
    where = load_tracker("query_bill", text="我家在天河区", intent="nlu_fallback",
                         pending_request="action_new_install", awaiting="identity")
    asked = await run_action("action_fallback", said_before(where, ("我想装个宽带", "manage_service", [INSTALL])))
    assert asked.responses == ["utter_ask_contact_number"]

    typed = load_tracker("query_bill", text="13999999993", intent="inform", entities=[entity("phone_number", "13999999993")],
                         pending_request="action_new_install", awaiting="identity")
    said_before(typed, ("我想装个宽带", "manage_service", [INSTALL]), ("我家在天河区", "nlu_fallback", []))
    told = (await run_action("action_identify_customer", typed)).message("utter_new_install_recorded")
    assert "天河区" in repository().get_ticket(told["ticket_id"])["details"]["customer_said"]
