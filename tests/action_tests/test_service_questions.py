"""A service change asked about ("停机保号怎么弄") is answered from its article and then offered; asked for, it is filed.

Found trying the chat: "过户怎么办理" and "停机保号怎么弄" were met with the number registered with us, and what
the customer asked was never answered.
"""
from __future__ import annotations

import pytest

from actions.backend import repository
from bot.knowledge.articles import load_articles
from bot.labels import asks_how
from tests.action_tests.trackers import Chat, entity
from tests.conftest import PROJECT_ROOT

ARTICLES = {a.id: a for a in load_articles(PROJECT_ROOT / "content" / "knowledge")}
PROVEN = {"customer_id": "1", "verified_customer_id": "1", "verified_by": "sms_code", "verified_channel": "rest"}


def service_changes(customer_id: int) -> list[dict]:
    return [t for t in repository().tickets_for(customer_id) if t["kind"] == "service_change"]


async def test_a_question_about_a_change_is_answered_and_a_yes_then_files_it(run_action):
    chat = Chat(run_action, **PROVEN)
    before = len(service_changes(1))
    asked = await chat.says("过户需要什么材料", "manage_service", "action_manage_service",
                            entities=[entity("service_action", "transfer")])
    assert asked.responses == ["utter_knowledge_answer", "utter_offer_service_change"]
    assert asked.message("utter_knowledge_answer")["answer"] == ARTICLES["transfer_ownership"].summary
    assert asked.message("utter_offer_service_change")["service"] == "过户"
    assert len(service_changes(1)) == before, "a question files nothing"

    taken = await chat.says("好的", "affirm", "action_handle_affirm")
    filed = taken.message("utter_service_change_recorded")  # not "记下了您的原话：好的"
    assert filed["service_action_label"] == "过户"
    assert repository().get_ticket(filed["ticket_id"])["details"]["service_action"] == "transfer"
    assert chat.tracker.slots["awaiting"] is None


async def test_a_stranger_who_takes_the_offer_hears_what_will_happen_before_the_number_is_asked(run_action):
    chat = Chat(run_action)
    asked = await chat.says("停机保号怎么弄", "manage_service", "action_manage_service",
                            entities=[entity("service_action", "suspend")])
    assert asked.message("utter_knowledge_answer")["answer"] == ARTICLES["suspension_keep_number"].summary
    assert "pending_request" not in asked.slots, "not asked for a number before the answer"
    taken = await chat.says("/affirm", "affirm", "action_handle_affirm")
    assert taken.responses[0] == "utter_ack_service_change"
    assert taken.slots["pending_request"] == "action_manage_service"


async def test_no_thanks_to_the_offer_files_nothing(run_action):
    chat = Chat(run_action, **PROVEN)
    before = len(service_changes(1))
    await chat.says("停机保号要什么条件", "manage_service", "action_manage_service",
                    entities=[entity("service_action", "suspend")])
    declined = await chat.says("不用了", "deny", "action_handle_deny")
    assert declined.responses == ["utter_anything_else"]
    assert len(service_changes(1)) == before


async def test_a_change_asked_for_or_no_article_answers_is_filed_as_before(run_action):
    asked_for = await Chat(run_action).says("我要过户", "manage_service", "action_manage_service",
                                            entities=[entity("service_action", "transfer")])
    assert asked_for.responses[0] == "utter_ack_service_change" and "utter_knowledge_answer" not in asked_for.responses
    # No article answers an upgrade (plan_change is for agents): "办理" or "怎么" alone picks no other article.
    unanswered = await Chat(run_action, **PROVEN).says("宽带怎么升级提速", "manage_service", "action_manage_service",
                                                       entities=[entity("service_action", "upgrade")])
    assert "utter_knowledge_answer" not in unanswered.responses
    assert unanswered.message("utter_service_change_recorded_as_said")["service_action_label"] == "升级提速"


async def test_a_yes_after_another_answer_in_between_files_nothing(run_action):
    """A yes files the change only right after the offer: "好的" to a plan list given in between is no yes to
    a change asked about turns before."""
    chat = Chat(run_action, **PROVEN)
    before = len(service_changes(1))
    await chat.says("停机保号怎么弄", "manage_service", "action_manage_service",
                    entities=[entity("service_action", "suspend")])
    await chat.says("你们有什么套餐", "query_plan", "action_query_plan")
    later = await chat.says("好的", "affirm", "action_handle_affirm")
    assert later.responses == ["utter_ok"] and len(service_changes(1)) == before


async def test_a_when_question_naming_broadband_is_no_how_to_and_gets_no_article(run_action):
    """Found in review: how_words' 带什么 ("what to bring") sits inside every 宽带什么… (宽[带什么]时候能装好), so
    "过户以后宽带什么时候能装好" was answered with the transfer article's papers to bring and offered the transfer
    as if asked how to do it. A how-to word straddling another listed word (宽带) is not read."""
    asked = await Chat(run_action, **PROVEN).says("过户以后宽带什么时候能装好", "manage_service", "action_manage_service",
                                                  entities=[entity("service_action", "transfer")])
    assert "utter_knowledge_answer" not in asked.responses, asked.responses
    assert "utter_offer_service_change" not in asked.responses


async def test_what_to_bring_is_still_a_how_to_beside_broadband(run_action):
    asked = await Chat(run_action, **PROVEN).says("办宽带过户要带什么证件", "manage_service", "action_manage_service",
                                                  entities=[entity("service_action", "transfer")])
    assert asked.responses == ["utter_knowledge_answer", "utter_offer_service_change"], asked.responses
    assert asked.message("utter_knowledge_answer")["answer"] == ARTICLES["transfer_ownership"].summary


async def test_why_the_bill_grew_after_a_change_is_no_how_to_and_gets_no_article(run_action):
    """Found in review: how_words' 怎么 lies inside the bill's 怎么贵了, so "停机保号以后月费怎么贵了" was answered
    with the suspension article and offered a suspension, as if asked how to suspend. A how-to word inside a
    longer listed word is part of it."""
    asked = await Chat(run_action, **PROVEN).says("停机保号以后月费怎么贵了", "manage_service", "action_manage_service",
                                                  entities=[entity("service_action", "suspend")])
    assert "utter_knowledge_answer" not in asked.responses, asked.responses
    assert "utter_offer_service_change" not in asked.responses


@pytest.mark.parametrize("text, how", [("宽带什么时候能装好", False), ("我的宽带什么时候到期", False),
                                       ("宽带要什么时候来装", False), ("办宽带要带什么证件", True),
                                       ("过户需要什么材料", True), ("停机保号怎么弄", True),
                                       ("停机保号以后月费怎么贵了", False), ("过户后怎么多了", False),
                                       ("月费怎么变贵了，过户怎么办理", True)])
def test_every_reader_of_how_words_reads_them_whole(text, how):
    """asks_how is what the service questions and the NLU's last step read how_words with."""
    assert asks_how(text) is how
