"""A plan change asking for a cheaper plan is shown the cheaper plans first, and filed for the one picked.

Found in a trial: "我想换个便宜点的套餐" was filed at once with the customer's words, and the customer never
saw which plans were cheaper (an agent had to call to tell them)."""
from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from actions.backend import repository
from bot.db.schema import customers
from tests.action_tests.test_account_actions import proven
from tests.action_tests.test_clarify_actions import said_instead, typed
from tests.action_tests.trackers import Chat, entity, load_tracker

CHANGE_PLAN = [entity("service_action", "change_plan")]


def asked(customer_id: int, text: str = "我想换个便宜点的套餐"):
    return load_tracker("query_bill", text=text, intent="manage_service", entities=CHANGE_PLAN, **proven(customer_id))


def service_changes(customer_id: int) -> list[dict]:
    return [t for t in repository().tickets_for(customer_id) if t["kind"] == "service_change"]


def picked(message: dict, title_start: str) -> dict:
    """The button of the plan whose title starts with ``title_start``, as a tap sends it."""
    button = next(b for b in message["buttons"] if b["title"].startswith(title_start))
    return json.loads(button["payload"].removeprefix("/manage_service"))


async def test_a_cheaper_plan_asked_for_shows_the_cheaper_plans_then_files_the_one_picked(run_action):
    shown = await run_action("action_manage_service", asked(4))  # 刘芳, 千兆宽带 at 129 yuan
    assert shown.responses == ["utter_cheaper_plans"], "the cheaper plans first, nothing filed"
    offer = shown.message("utter_cheaper_plans")
    assert (offer["plan_name"], offer["monthly_fee"]) == ("千兆宽带", "129.00")
    assert [b["title"] for b in offer["buttons"]] == ["300M宽带（79.00元/月）"], "cheaper broadband only, no TV package"
    assert service_changes(4) == []

    choice = picked(offer, "300M宽带")
    tap = load_tracker("query_bill", text="/manage_service" + json.dumps(choice), intent="manage_service",
                       entities=[entity(k, v) for k, v in choice.items()], **proven(4))
    filed = await run_action("action_manage_service", tap)
    recorded = filed.message("utter_plan_change_recorded")
    assert (recorded["plan_name"], recorded["monthly_fee"]) == ("300M宽带", "79.00")
    ticket = repository().get_ticket(recorded["ticket_id"])
    assert ticket["details"]["plan_code"] == "BB300" and ticket["details"]["service_action"] == "change_plan"
    assert "300M宽带" in ticket["summary"], "the agent reads which plan"
    assert [t["ticket_id"] for t in service_changes(4)] == [recorded["ticket_id"]]


async def test_a_bundle_customer_sees_every_cheaper_plan_cheapest_first(run_action):
    offer = (await run_action("action_manage_service", asked(2, "套餐太贵了 想换个省钱点的"))).message("utter_cheaper_plans")
    titles = [b["title"] for b in offer["buttons"]]  # 李娜, 全家福 at 159: broadband or TV alone
    assert titles == ["数字电视基本包（28.00元/月）", "4K超清电视包（48.00元/月）", "300M宽带（79.00元/月）",
                      "千兆宽带（129.00元/月）"]


async def test_on_the_cheapest_plan_of_its_kind_the_customer_is_told_so_and_nothing_is_filed(run_action):
    told = await run_action("action_manage_service", asked(1))  # 张伟, 300M宽带 at 79: the cheapest broadband
    assert told.responses == ["utter_no_cheaper_plan"]
    assert told.message("utter_no_cheaper_plan")["plan_name"] == "300M宽带"
    assert service_changes(1) == []


async def test_a_customer_with_no_plan_on_record_sees_the_plans_on_sale_cheapest_first(run_action):
    with repository().engine.begin() as conn:
        conn.execute(sa.update(customers).where(customers.c.id == 3).values(plan_code=None))
    shown = await run_action("action_manage_service", asked(3))
    offer = shown.message("utter_cheaper_plans_on_sale")
    fees = [float(b["title"].split("（")[1].removesuffix("元/月）")) for b in offer["buttons"]]
    assert len(fees) == 5 and fees == sorted(fees)


async def test_a_plan_change_not_asking_for_a_cheaper_plan_is_filed_as_before(run_action):
    filed = await run_action("action_manage_service", asked(4, "我要换套餐"))
    assert filed.responses == ["utter_service_change_recorded_as_said"]


async def test_the_number_of_a_plan_shown_typed_instead_of_tapped_picks_it(run_action):
    """"2" typed to the cheaper plans (read as a number given) is the second plan's button, as a tap would be."""
    tracker = asked(2)
    offer = (await run_action("action_manage_service", tracker)).message("utter_cheaper_plans")
    tracker.events.append({"event": "action", "name": "action_manage_service"})
    tracker.events.append({"event": "bot", "text": "…", "data": {"buttons": offer["buttons"]},
                           "metadata": {"utter_action": "utter_cheaper_plans"}})
    turn = await run_action("action_identify_customer", typed(tracker, "2", "inform", 0.6))
    assert said_instead(turn) == (offer["buttons"][1]["payload"], "manage_service", "socketio")
    assert {e["entity"]: e["value"] for e in turn.events[-1]["parse_data"]["entities"]}["plan_code"] == "TV_4K"


async def offered_to(run_action, customer_id: int, text: str = "我想换个便宜点的套餐"):
    """The cheaper plans shown to the customer (or every plan on sale, to one with no plan on record), the
    tracker as it stands after them, and the offer."""
    tracker = asked(customer_id, text)
    shown = await run_action("action_manage_service", tracker)
    [question] = shown.responses
    offer = shown.message(question)
    tracker.events.append({"event": "action", "name": "action_manage_service"})
    tracker.events.append({"event": "bot", "text": "…", "data": {"buttons": offer["buttons"]},
                           "metadata": {"utter_action": question}})
    return tracker, offer


def payload_of(offer: dict, title_start: str) -> str:
    return next(b["payload"] for b in offer["buttons"] if b["title"].startswith(title_start))


# What the NLU made of a plan's name typed to the offer (the served model): a plan question, a TV fault, a yes,
# a plan change, nothing it knows. Each is answered by its own action; each takes the name as the button.
NAMES_TYPED = [
    ("300M的那个", "nlu_fallback", "action_fallback", "300M宽带"),
    ("300M宽带", "query_plan", "action_query_plan", "300M宽带"),
    ("数字电视基本包", "fault_tv", "action_triage_fault", "数字电视基本包"),
    ("4K的", "affirm", "action_handle_affirm", "4K超清电视包"),
    ("我选4K超清电视包", "manage_service", "action_manage_service", "4K超清电视包"),
    ("千兆宽带吧", "inform", "action_identify_customer", "千兆宽带"),
    ("bb1000", "inform", "action_identify_customer", "千兆宽带"),
]


@pytest.mark.parametrize("text,intent,action,plan", NAMES_TYPED)
async def test_a_plan_shown_named_instead_of_tapped_picks_it(run_action, text, intent, action, plan):
    """Found in review: a typed number picked a plan shown, its name picked nothing (the NLU read it as anything)."""
    tracker, offer = await offered_to(run_action, 2)  # 李娜, 全家福: both TV packages and both broadband plans
    turn = await run_action(action, typed(tracker, text, intent, 0.5))
    assert said_instead(turn) == (payload_of(offer, plan), "manage_service", "socketio")
    assert turn.responses == [], "nothing said before the plan's change is filed"


@pytest.mark.parametrize("text", ["宽带的", "电视那个", "300M、千兆宽带", "300M的网速太慢了", "全家福融合套餐"])
async def test_a_reply_naming_no_plan_shown_or_two_of_them_picks_none(run_action, text):
    """Two plans shown named ("电视" is in both TV packages), more said than a plan, or the customer's own plan
    (not shown): answered as before, nothing picked or filed."""
    tracker, _ = await offered_to(run_action, 2)
    turn = await run_action("action_fallback", typed(tracker, text, "nlu_fallback", 0.4))
    assert not [e for e in turn.events if e.get("event") == "rewind"], "no plan picked"
    assert service_changes(2) == []


# Chinese parts of a name that no other plan on sale has in its name (content/demo/seed.yml: 千兆 is only 千兆宽带's,
# 基本包 and 数字电视 only 数字电视基本包's, 超清 only 4K超清电视包's).
CHINESE_PARTS_TYPED = [("千兆的", "千兆宽带"), ("基本包吧", "数字电视基本包"), ("超清那个", "4K超清电视包"),
                       ("就数字电视的吧", "数字电视基本包"), ("4K超清的", "4K超清电视包")]


@pytest.mark.parametrize("text,plan", CHINESE_PARTS_TYPED)
async def test_a_chinese_part_of_one_plans_name_picks_it(run_action, text, plan):
    """Found in review: "千兆的" picked nothing (only letters and digits of a name did) and the NLU read it as
    anything."""
    tracker, offer = await offered_to(run_action, 2)  # 李娜, 全家福: both TV packages and both broadband plans
    turn = await run_action("action_fallback", typed(tracker, text, "nlu_fallback", 0.4))
    assert said_instead(turn) == (payload_of(offer, plan), "manage_service", "socketio")


@pytest.mark.parametrize("text", ["千兆的太贵了", "超清的画质怎么样", "千兆还是基本包", "基本包、超清", "千兆超清"])
async def test_a_chinese_part_with_more_said_or_another_plans_part_picks_none(run_action, text):
    """More said than a part ("千兆的太贵了"), or parts of two plans shown: answered as before."""
    tracker, _ = await offered_to(run_action, 2)
    turn = await run_action("action_fallback", typed(tracker, text, "nlu_fallback", 0.4))
    assert not [e for e in turn.events if e.get("event") == "rewind"], "no plan picked"
    assert service_changes(2) == []


@pytest.mark.parametrize("text,plan", [("全家福的", "全家福融合套餐"), ("千兆宽带套餐", "千兆宽带"),
                                       ("电视包", None), ("宽带套餐", None), ("电视的那个", None)])
async def test_words_naming_a_kind_of_plan_name_none_of_every_plan_on_sale(run_action, text, plan):
    """Every plan on sale shown (no plan on record). 套餐 is only 全家福融合套餐's and 电视包 only 4K超清电视包's
    (数字电视基本包 has 电视 and 包 apart), yet they say a kind of plan, not which (the editors'
    ``plan_pick_generic_words``): "千兆宽带套餐" is 千兆宽带 alone, "电视包" neither TV package."""
    with repository().engine.begin() as conn:
        conn.execute(sa.update(customers).where(customers.c.id == 3).values(plan_code=None))
    tracker, offer = await offered_to(run_action, 3)
    assert len(offer["buttons"]) == 5
    turn = await run_action("action_fallback", typed(tracker, text, "nlu_fallback", 0.4))
    if plan:
        assert said_instead(turn) == (payload_of(offer, plan), "manage_service", "socketio")
    else:
        assert not [e for e in turn.events if e.get("event") == "rewind"], "no plan picked"


async def test_the_plan_named_is_filed_as_if_tapped(run_action):
    """The whole way: "300M的那个" to 刘芳's one cheaper plan, then the change filed for it."""
    tracker, offer = await offered_to(run_action, 4)
    said = said_instead(await run_action("action_fallback", typed(tracker, "300M的那个", "nlu_fallback", 0.45)))
    choice = json.loads(said[0].removeprefix("/manage_service"))
    tap = load_tracker("query_bill", text=said[0], intent="manage_service",
                       entities=[entity(k, v) for k, v in choice.items()], **proven(4))
    recorded = (await run_action("action_manage_service", tap)).message("utter_plan_change_recorded")
    assert recorded["plan_name"] == "300M宽带"
    assert [t["ticket_id"] for t in service_changes(4)] == [recorded["ticket_id"]]


async def test_a_plan_tapped_right_after_the_offer_is_filed_not_said_again(run_action):
    """The button's payload names the plan's code: it is the pick itself, not a reply to take as the button."""
    tracker, offer = await offered_to(run_action, 4)
    payload = payload_of(offer, "300M宽带")
    choice = json.loads(payload.removeprefix("/manage_service"))
    tap = typed(tracker, payload, "manage_service", 1.0)
    tap.latest_message["entities"] = [entity(k, v) for k, v in choice.items()]
    tap.events[-1]["input_channel"] = "rest"  # the channel the proof was given on
    filed = await run_action("action_manage_service", tap)
    assert filed.message("utter_plan_change_recorded")["plan_name"] == "300M宽带"


async def test_on_the_phone_a_cheaper_plan_asked_for_is_filed_as_said(run_action):
    """The phone has no buttons to pick a plan with: the change is filed with the customer's words, as before."""
    tracker = load_tracker("query_bill", text="我想换个便宜点的套餐", intent="manage_service", entities=CHANGE_PLAN,
                           **{**proven(4), "verified_channel": "ivr"})
    tracker.events[-1]["input_channel"] = "ivr"
    assert (await run_action("action_manage_service", tracker)).responses == ["utter_service_change_recorded_as_said"]


def ticket_of(turn) -> dict:
    return repository().get_ticket(turn.message("utter_plan_change_recorded")["ticket_id"])


async def test_a_change_naming_a_plan_is_filed_for_it_once_the_customer_is_proven(run_action, with_redis):
    """Found in a live trial: the NLU read no service in "我想把套餐改成便宜点的300M宽带，手机…", the bot asked
    "请问您要办理哪项业务？", and the change was filed with no plan and no words: a salesperson had to call to ask."""
    chat = Chat(run_action)
    text = "我想把套餐改成便宜点的300M宽带，手机13800000004"  # 刘芳, 千兆宽带 at 129
    asked = await chat.says(text, "manage_service", "action_manage_service", confidence=0.81,
                            entities=[entity("phone_number", "13800000004")])
    assert "utter_ask_service_action" not in asked.responses, "the plan named is the service"
    assert asked.slots["pending_request"] == "action_manage_service" and service_changes(4) == []

    chat.tracker.slots.update(proven(4))  # the code given (action_identify_customer checks it, then goes on)
    filed = await chat.says("123456", "inform", "action_manage_service")
    assert filed.message("utter_plan_change_recorded")["plan_name"] == "300M宽带"
    ticket = ticket_of(filed)
    assert ticket["details"]["plan_code"] == "BB300" and "300M宽带" in ticket["summary"]
    assert ticket["details"]["customer_said"].startswith("我想把套餐改成便宜点的300M宽带"), "the words kept"


async def test_a_plan_named_after_the_plans_listed_is_a_change_to_it(run_action):
    """Found in a live trial: "那换成300M宽带那个吧" after the plans on sale were listed was asked which service."""
    chat = Chat(run_action, **proven(4))
    await chat.says("你们有什么宽带套餐", "query_plan", "action_query_plan")
    filed = await chat.says("那换成300M宽带那个吧", "manage_service", "action_manage_service", confidence=0.69)
    assert filed.responses[-1] == "utter_plan_change_recorded"
    assert ticket_of(filed)["details"]["plan_code"] == "BB300"


async def test_a_plan_named_though_not_cheaper_is_filed_as_named(run_action):
    """The customer chose it by name; the reply tells its fee (张伟 is on 300M宽带 at 79)."""
    filed = await run_action("action_manage_service", asked(1, "我想换个便宜点的千兆宽带"))
    assert filed.message("utter_plan_change_recorded")["monthly_fee"] == "129.00"


async def test_their_own_plan_named_is_not_the_plan_changed_to(run_action):
    """"我现在是千兆宽带" names the plan left: the cheaper plans are shown, nothing is filed."""
    tracker = load_tracker("query_bill", text="我现在是千兆宽带，想换个便宜点的", intent="manage_service", **proven(4))
    shown = await run_action("action_manage_service", tracker)
    assert [b["title"] for b in shown.message("utter_cheaper_plans")["buttons"]] == ["300M宽带（79.00元/月）"]
    assert service_changes(4) == []


async def test_a_word_of_a_plans_name_said_in_passing_names_no_plan(run_action):
    """Found in review: 基本 (of 数字电视基本包) in "我基本上不看电视了" filed a change to that TV package. In a request's
    own words a plan is named by its full name, its code or its letters and digits only; a Chinese part of a name
    picks a plan in a reply to the plans shown, where it can mean nothing else."""
    tracker = load_tracker("query_bill", text="我基本上不看电视了，想换个便宜点的套餐", intent="manage_service",
                           entities=[entity("service_action", "change_plan")], **proven(4))
    shown = await run_action("action_manage_service", tracker)
    assert shown.responses == ["utter_cheaper_plans"], shown.responses
    assert [b["title"] for b in shown.message("utter_cheaper_plans")["buttons"]] == ["300M宽带（79.00元/月）"]
    assert service_changes(4) == []


@pytest.mark.parametrize("text", ["我想办理业务", "宽带的套餐能换吗 300M还是千兆好"])
async def test_a_service_change_naming_no_plan_or_two_is_asked_which_service(run_action, text):
    turn = await run_action("action_manage_service", load_tracker("query_bill", text=text, intent="manage_service",
                                                                  **proven(4)))
    assert turn.responses == ["utter_ask_service_action"]


async def test_a_plan_question_asking_to_change_to_a_cheaper_plan_is_shown_the_cheaper_plans(run_action):
    """Found in a live trial: read as a plan question (query_plan 0.74), it got every plan on sale, dearer ones too,
    with nothing to pick and no question."""
    chat = Chat(run_action, **proven(4))  # 刘芳, 千兆宽带 at 129
    shown = await chat.says("套餐太贵了，有没有便宜点的，我想换个", "query_plan", "action_query_plan", confidence=0.74)
    assert "utter_plan_list" not in shown.responses
    assert [b["title"] for b in shown.message("utter_cheaper_plans")["buttons"]] == ["300M宽带（79.00元/月）"]
    assert service_changes(4) == []


async def test_a_plan_question_asking_to_change_to_a_cheaper_plan_asks_who_first(run_action):
    """As "我想换个便宜点的套餐" does: the cheaper plans are the customer's, once they proved who they are."""
    chat = Chat(run_action)
    asked = await chat.says("套餐太贵了，有没有便宜点的，我想换个", "query_plan", "action_query_plan")
    assert asked.responses[-1] == "utter_ask_identity" and "utter_plan_list" not in asked.responses
    assert (asked.slots["pending_request"], asked.slots["service_action"]) == ("action_manage_service", "change_plan")
    chat.tracker.slots.update(proven(4))
    shown = await chat.says("123456", "inform", "action_manage_service")
    assert [b["title"] for b in shown.message("utter_cheaper_plans")["buttons"]] == ["300M宽带（79.00元/月）"]


@pytest.mark.parametrize("text", ["有没有便宜点的套餐", "我想换个套餐，都有哪些"])
async def test_a_plan_question_not_asking_both_to_change_and_for_cheaper_gets_the_plans_on_sale(run_action, text):
    turn = await run_action("action_query_plan", load_tracker("query_bill", text=text, intent="query_plan",
                                                             **proven(4)))
    assert turn.responses[0] == "utter_plan_list"


def answered(tracker, action: str, turn):
    """The tracker after ``turn``'s replies, as Rasa keeps them."""
    tracker.events.append({"event": "action", "name": action})
    tracker.events += [{"event": "bot", "text": "…", "metadata": {"utter_action": m.get("response")}}
                       for m in turn.messages]
    return tracker


async def test_the_plans_stay_open_across_a_reply_not_understood(run_action):
    """Found in a live trial: after one reply to the cheaper plans got "抱歉，我没太明白您的意思…", the plan's exact name
    typed next got it again: the name was read only while the plans were the bot's last words."""
    tracker, offer = await offered_to(run_action, 2)
    missed = await run_action("action_fallback", typed(tracker, "嗯让我想想哪个划算", "nlu_fallback", 0.3))
    assert missed.responses == ["utter_default"]
    tracker = answered(tracker, "action_fallback", missed)
    picked_now = await run_action("action_fallback", typed(tracker, "千兆宽带", "nlu_fallback", 0.4))
    assert said_instead(picked_now) == (payload_of(offer, "千兆宽带"), "manage_service", "socketio")


async def test_a_number_typed_after_a_reply_not_understood_still_picks(run_action):
    tracker, offer = await offered_to(run_action, 2)
    tracker = answered(tracker, "action_fallback",
                       await run_action("action_fallback", typed(tracker, "嗯让我想想哪个划算", "nlu_fallback", 0.3)))
    turn = await run_action("action_identify_customer", typed(tracker, "2", "inform", 0.6))
    assert said_instead(turn) == (offer["buttons"][1]["payload"], "manage_service", "socketio")


async def test_the_plans_close_once_the_customer_moves_on(run_action):
    """A reply the bot understood (the bill asked about) closes them: a name typed later is no pick."""
    tracker, _ = await offered_to(run_action, 2)
    typed(tracker, "查一下话费", "query_bill", 0.95)
    tracker.slots.update(proven(2))
    tracker = answered(tracker, "action_query_bill", await run_action("action_query_bill", tracker))
    turn = await run_action("action_fallback", typed(tracker, "千兆宽带", "nlu_fallback", 0.4))
    assert not [e for e in turn.events if e.get("event") == "rewind"], "no plan picked"


@pytest.mark.parametrize("said, intent, action, entities", [
    ("等下 不换了 还是保留原来的吧", "deny", "action_handle_deny", []),
    ("刚才那个换套餐的单子帮我撤销", "manage_service", "action_manage_service", CHANGE_PLAN),
    ("还是保留原来的吧", "nlu_fallback", "action_fallback", []),
])
async def test_a_plan_change_taken_back_in_the_chat_that_filed_it_is_noted_not_filed_again(
        run_action, said, intent, action, entities):
    """Found in a live trial: "等下 不换了 还是保留原来的吧" after the change was filed got "还有其他需要帮忙的吗？", the
    change still open for staff to carry out, and "刚才那个换套餐的单子帮我撤销" filed a second change."""
    from bot.ticket_notes import history_line

    chat = Chat(run_action, **proven(4))
    shown = await chat.says("我想换个便宜点的套餐", "manage_service", "action_manage_service", entities=CHANGE_PLAN)
    choice = picked(shown.message("utter_cheaper_plans"), "300M宽带")
    filed = await chat.says("/manage_service" + json.dumps(choice), "manage_service", "action_manage_service",
                            entities=[entity(k, v) for k, v in choice.items()])
    ticket_id = filed.message("utter_plan_change_recorded")["ticket_id"]

    taken_back = await chat.says(said, intent, action, entities=entities,
                                 confidence=0.45 if intent == "nlu_fallback" else 0.9)
    assert taken_back.responses == ["utter_service_change_withdraw_noted"]
    assert [t["ticket_id"] for t in service_changes(4)] == [ticket_id], "no second change"
    lines = [history_line(row["note"]) for row in repository().ticket_history(ticket_id)]
    assert any(line.startswith("客户要求撤回这次业务办理") and said in line for line in lines), lines


async def test_withdrawal_words_about_a_visit_or_said_later_take_back_no_plan_change(run_action):
    """Found in review: "撤销明天的上门", said once the plan change was filed, took the change back (and left the visit)."""
    chat = Chat(run_action, **proven(4))
    shown = await chat.says("我想换个便宜点的套餐", "manage_service", "action_manage_service", entities=CHANGE_PLAN)
    choice = picked(shown.message("utter_cheaper_plans"), "300M宽带")
    await chat.says("/manage_service" + json.dumps(choice), "manage_service", "action_manage_service",
                    entities=[entity(k, v) for k, v in choice.items()])
    turn = await chat.says("撤销明天的上门", "manage_service", "action_manage_service",
                           entities=[entity("service_action", "cancel")])
    assert "utter_service_change_withdraw_noted" not in turn.responses, turn.responses
    later = await chat.says("查下话费", "query_bill", "action_query_bill")
    assert "utter_service_change_withdraw_noted" not in later.responses
    turn = await chat.says("撤销", "nlu_fallback", "action_fallback", confidence=0.45)
    assert "utter_service_change_withdraw_noted" not in turn.responses, "said later, not right after the change"
