"""“我的宽带什么时候到期”: the plan's end date from the customer database, for the proven account holder.

Found by the maintainers: one of the commonest telecom questions got a bill, the plans on sale, how to pay
or a fault's self-help, since the customer data held no end date. The NLU has no intent for it; the words
(``plan_end_words`` in content/labels.yml) make it a bill question whatever was guessed (tests/test_asked_outright.py),
and the bill action sends it to the date. Demo data: 张伟 (1) pays a year ending
2026-12-31, 李娜 (2) a contract ending 2027-06-30, 王强 (3) monthly.
"""
from __future__ import annotations

import datetime as dt

import pytest

from actions import plan_end
from actions.backend import repository
from bot.db.schema import customers
from tests.action_tests.test_account_actions import proven
from tests.action_tests.trackers import Chat, entity

TODAY = dt.date(2026, 12, 6)


@pytest.fixture(autouse=True)
def today(monkeypatch):
    monkeypatch.setattr(plan_end, "centre_today", lambda: TODAY)


def renewal_summary() -> str:
    from bot.knowledge.index import index_for
    from bot.settings import get_settings

    return index_for(get_settings()).article("payment_methods").summary


# Read by the classifiers as a fallback, a bill or plan question, a how-to, a broadband fault: each a bill question
# once the NLU's last step has read it (bot/nlu/asked_outright.py).
PHRASES = ["帮我查下我的宽带什么时候到期", "我的套餐什么时候到期", "宽带到期时间", "我的宽带还有几天到期", "谢谢 再问下什么时候到期"]


async def asks(chat: Chat, text: str):
    """The turn as served: a bill question (the NLU's last step), which the bill action's rule answers."""
    return await chat.says(text, "query_bill", "action_query_bill", confidence=1.0)


@pytest.mark.parametrize("text", PHRASES)
async def test_a_proven_customer_asking_when_their_plan_ends_is_told_the_date_the_days_left_and_how_to_renew(
        run_action, text):
    told = await asks(Chat(run_action, **proven(1)), text)
    assert told.responses == ["utter_plan_end_date", "utter_knowledge_answer"]
    date = told.message("utter_plan_end_date")
    assert (date["customer_name"], date["plan_name"], date["end_date"], date["days_left"]) == (
        "张伟", "300M宽带", "2026年12月31日", 25)
    assert told.message("utter_knowledge_answer")["answer"] == renewal_summary()  # the 缴费 menu, renewals too


async def test_someone_not_proven_is_asked_who_they_are_before_any_date(run_action):
    for text in PHRASES:
        asked = await asks(Chat(run_action), text)
        assert asked.responses == ["utter_ask_identity"], text
        assert asked.slots["pending_request"] == "action_tell_plan_end", text


async def test_the_date_is_told_once_the_customer_proved_who_they_are(run_action, with_redis):
    chat = Chat(run_action)
    await asks(chat, "帮我查下我的宽带什么时候到期")
    code_asked = await chat.says("13800000001", "inform", "action_identify_customer",
                                 entities=[entity("phone_number", "13800000001")])
    assert code_asked.responses == ["utter_verification_code_sent"]
    told = await chat.says("135790", "inform", "action_identify_customer")  # the service password
    assert told.responses == ["utter_plan_end_date", "utter_knowledge_answer"]
    assert told.message("utter_plan_end_date")["end_date"] == "2026年12月31日"


async def test_a_contract_a_plan_ending_today_and_one_that_ended_are_each_told_so(run_action, monkeypatch):
    contract = await asks(Chat(run_action, **proven(2)), "我的套餐哪天到期")
    assert contract.responses == ["utter_plan_end_date", "utter_knowledge_answer"]
    assert (contract.message("utter_plan_end_date")["end_date"],
            contract.message("utter_plan_end_date")["days_left"]) == ("2027年6月30日", 206)

    monkeypatch.setattr(plan_end, "centre_today", lambda: dt.date(2026, 12, 31))
    last_day = await asks(Chat(run_action, **proven(1)), "我的宽带什么时候到期")
    assert last_day.responses == ["utter_plan_end_today", "utter_knowledge_answer"]

    monkeypatch.setattr(plan_end, "centre_today", lambda: dt.date(2027, 1, 3))
    ended = await asks(Chat(run_action, **proven(1)), "我的宽带什么时候到期")
    assert ended.responses == ["utter_plan_end_passed", "utter_knowledge_answer"]
    assert ended.message("utter_plan_end_passed")["end_date"] == "2026年12月31日"


async def test_a_plan_that_renews_monthly_is_said_to_have_no_end_date(run_action):
    monthly = await asks(Chat(run_action, **proven(3)), "我的套餐什么时候到期")
    assert monthly.responses == ["utter_plan_end_monthly"]
    assert monthly.message("utter_plan_end_monthly")["plan_name"] == "4K超清电视包"


async def test_a_customer_with_no_plan_is_told_they_have_none(run_action):
    with repository().engine.begin() as conn:
        conn.execute(customers.update().where(customers.c.id == 4).values(plan_code=None, plan_end_date=None))
    told = await asks(Chat(run_action, **proven(4)), "我的宽带什么时候到期")
    assert told.responses == ["utter_plan_end_no_plan"]


async def test_the_bills_due_date_and_how_to_renew_are_still_answered_as_before(run_action):
    bill = await Chat(run_action, **proven(1)).says("这个月账单什么时候到期", "query_bill", "action_query_bill")
    assert "utter_bill_summary" in bill.responses and "utter_plan_end_date" not in bill.responses
    how = await Chat(run_action, **proven(1)).says("宽带到期了怎么续费", "ask_how_to", "action_answer_from_knowledge",
                                                   confidence=0.97)
    assert how.responses == ["utter_knowledge_answer"]
    waiting = await Chat(run_action, **proven(1)).says("师傅要等到什么时候", "nlu_fallback", "action_fallback",
                                                       confidence=0.4)
    assert not {"utter_plan_end_date", "utter_ask_identity"} & set(waiting.responses)
