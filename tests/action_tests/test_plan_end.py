"""“我的宽带什么时候到期”: the plan's end date from the customer database, for the proven account holder.

Found by the maintainers: one of the commonest telecom questions got a bill, the plans on sale, how to pay
or a fault's self-help, since the customer data held no end date. The NLU has no intent for it and reads
it as each of those, or falls back (measured on the served model, in each test's phrases); the words
(``plan_end_words`` in content/labels.yml) send it to the date. Demo data: 张伟 (1) pays a year ending
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


# (what the customer said, what the served model read it as, its confidence, the action its rule runs)
READINGS = [
    ("帮我查下我的宽带什么时候到期", "nlu_fallback", 0.45, "action_fallback"),
    ("帮我查下我的宽带什么时候到期", "query_bill", 0.34, "action_query_bill"),  # the runner-up, on another day
    ("我的套餐什么时候到期", "query_plan", 0.63, "action_query_plan"),
    ("宽带到期时间", "ask_how_to", 0.65, "action_answer_from_knowledge"),
    ("我的宽带还有几天到期", "fault_broadband", 0.51, "action_triage_fault"),
]


@pytest.mark.parametrize("text, intent, confidence, action", READINGS, ids=[f"{r[0]}-{r[1]}" for r in READINGS])
async def test_a_proven_customer_asking_when_their_plan_ends_is_told_the_date_the_days_left_and_how_to_renew(
        run_action, text, intent, confidence, action):
    chat = Chat(run_action, **proven(1))
    told = await chat.says(text, intent, action, confidence=confidence)
    assert told.responses == ["utter_plan_end_date", "utter_knowledge_answer"]
    date = told.message("utter_plan_end_date")
    assert (date["customer_name"], date["plan_name"], date["end_date"], date["days_left"]) == (
        "张伟", "300M宽带", "2026年12月31日", 25)
    assert told.message("utter_knowledge_answer")["answer"] == renewal_summary()  # the 缴费 menu, renewals too


async def test_someone_not_proven_is_asked_who_they_are_before_any_date(run_action):
    for text, intent, confidence, action in READINGS:
        stranger = Chat(run_action)
        asked = await stranger.says(text, intent, action, confidence=confidence)
        assert asked.responses == ["utter_ask_identity"], text
        # read as a bill question, the bill is what is kept: it answers the date once they proved it
        kept = "action_query_bill" if action == "action_query_bill" else "action_tell_plan_end"
        assert asked.slots["pending_request"] == kept, text


@pytest.mark.parametrize("intent, action", [("nlu_fallback", "action_fallback"), ("query_bill", "action_query_bill")])
async def test_the_date_is_told_once_the_customer_proved_who_they_are(run_action, with_redis, intent, action):
    chat = Chat(run_action)
    await chat.says("帮我查下我的宽带什么时候到期", intent, action, confidence=0.45)
    code_asked = await chat.says("13800000001", "inform", "action_identify_customer",
                                 entities=[entity("phone_number", "13800000001")])
    assert code_asked.responses == ["utter_verification_code_sent"]
    told = await chat.says("135790", "inform", "action_identify_customer")  # the service password
    assert told.responses == ["utter_plan_end_date", "utter_knowledge_answer"]
    assert told.message("utter_plan_end_date")["end_date"] == "2026年12月31日"


async def test_a_contract_a_plan_ending_today_and_one_that_ended_are_each_told_so(run_action, monkeypatch):
    contract = await Chat(run_action, **proven(2)).says("我的套餐哪天到期", "query_plan", "action_query_plan",
                                                        confidence=0.61)
    assert contract.responses == ["utter_plan_end_date", "utter_knowledge_answer"]
    assert (contract.message("utter_plan_end_date")["end_date"],
            contract.message("utter_plan_end_date")["days_left"]) == ("2027年6月30日", 206)

    monkeypatch.setattr(plan_end, "centre_today", lambda: dt.date(2026, 12, 31))
    last_day = await Chat(run_action, **proven(1)).says("我的宽带什么时候到期", "nlu_fallback", "action_fallback",
                                                        confidence=0.45)
    assert last_day.responses == ["utter_plan_end_today", "utter_knowledge_answer"]

    monkeypatch.setattr(plan_end, "centre_today", lambda: dt.date(2027, 1, 3))
    ended = await Chat(run_action, **proven(1)).says("我的宽带什么时候到期", "nlu_fallback", "action_fallback",
                                                     confidence=0.45)
    assert ended.responses == ["utter_plan_end_passed", "utter_knowledge_answer"]
    assert ended.message("utter_plan_end_passed")["end_date"] == "2026年12月31日"


async def test_a_plan_that_renews_monthly_is_said_to_have_no_end_date(run_action):
    monthly = await Chat(run_action, **proven(3)).says("我的套餐什么时候到期", "query_plan", "action_query_plan",
                                                       confidence=0.63)
    assert monthly.responses == ["utter_plan_end_monthly"]
    assert monthly.message("utter_plan_end_monthly")["plan_name"] == "4K超清电视包"


async def test_a_customer_with_no_plan_is_told_they_have_none(run_action):
    with repository().engine.begin() as conn:
        conn.execute(customers.update().where(customers.c.id == 4).values(plan_code=None, plan_end_date=None))
    told = await Chat(run_action, **proven(4)).says("我的宽带什么时候到期", "nlu_fallback", "action_fallback",
                                                    confidence=0.45)
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
