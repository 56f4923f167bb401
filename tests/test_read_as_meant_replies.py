"""On the real servers: what the customers of the web-chat trial heard back once their messages are read as meant
(tests/test_read_as_meant.yml holds the readings). The expected sentences are read from the domain and content
files, never written here."""
from __future__ import annotations

import pytest

from bot.knowledge.articles import load_articles
from tests.conftest import PROJECT_ROOT
from tests.test_acknowledge_first import chat, reply_text

pytestmark = pytest.mark.slow


def test_asking_whether_a_bot_answers_is_answered_not_queued(running_kefu):
    """"你是机器人吗" was read as asking for a person: the customer was queued for an agent."""
    for sender, words in (("trial-bot-1", "你是机器人吗"), ("trial-bot-2", "是真人吗"), ("trial-bot-3", "你是人工吗")):
        assert chat(running_kefu, sender, words) == [reply_text("utter_iamabot")], words


def test_the_weekend_asked_after_the_opening_hours_hears_the_hours(running_kefu):
    """"周末开门吗" right after the hours was read as a visit request."""
    hours = next(a for a in load_articles(PROJECT_ROOT / "content" / "knowledge") if a.id == "business_hours")
    told = reply_text("utter_knowledge_answer").format(answer=hours.summary)
    assert chat(running_kefu, "trial-hours", "你们营业厅开到几点") == [told]
    assert chat(running_kefu, "trial-hours", "周末开门吗") == [told]


@pytest.mark.parametrize("sender, words", [("trial-addon-1", "那个4K包我不想要了"),
                                           ("trial-addon-2", "流量不够用 能加个流量包吗")])
def test_an_add_on_let_go_or_asked_for_is_taken_not_asked_which_service(running_kefu, sender, words):
    """Read with no service action, the customer was asked which service and what to do."""
    assert chat(running_kefu, sender, words)[:2] == [reply_text("utter_ack_service_change"),
                                                     reply_text("utter_ask_identity")]


def test_a_no_thanks_leaves_no_service_change_behind(running_kefu):
    """Found in review: "不要了 谢谢" (不要了 is a cancel word of the lookup) kept the cancellation in the conversation,
    and a later change that named none ("我想办个业务") was taken for it. It is asked which service."""
    chat(running_kefu, "trial-no-thanks", "不要了 谢谢")
    assert chat(running_kefu, "trial-no-thanks", "我想办个业务")[-1] == reply_text("utter_ask_service_action")
