"""A request for a person said with "it did not help", to "did it fix it?" or to the person offered after it.

Found in a live trial: "还是没用，给我转人工吧" after the mosaic guide (read as nothing in particular: nlu_fallback
0.45, deny 0.45, request_human 0.40) got "别着急，我们再试试下面这个方法：" and the set-top-box reset; only
"我说了转人工！" queued the customer. Any of the editors' ``person_asked_words`` (content/labels.yml) gets the person.
"""
from __future__ import annotations

import pytest

from actions.backend import repository
from bot.handoff.queue import HandoffQueue
from bot.labels import asks_for_a_person
from tests.action_tests.trackers import Chat

QUEUED = {"utter_queued", "utter_queue_nobody_available"}
TRIAL_READING = [{"name": "nlu_fallback", "confidence": 0.45}, {"name": "deny", "confidence": 0.45},
                 {"name": "request_human", "confidence": 0.40}]


async def mosaic_guide_sent(chat: Chat) -> None:
    sent = await chat.says("电视画面老是卡 马赛克", "fault_tv", "action_triage_fault")
    assert chat.tracker.get_slot("selfhelp_current") == "tv_mosaic", sent.responses


@pytest.mark.usefixtures("agents_in_all_day")  # "nobody online" as said in the daytime
async def test_still_no_use_put_me_through_to_a_person_queues_them_with_the_guide_failed(run_action, with_redis):
    for text, intent, action, ranking in (
            ("还是没用，给我转人工吧", "nlu_fallback", "action_fallback", TRIAL_READING),  # the trial's reading
            ("还是不行，找人工客服", "deny", "action_handle_deny", None),  # read as a no (0.58)
    ):
        chat = Chat(run_action)
        chat.tracker.sender_id = f"asked-{intent}"
        await mosaic_guide_sent(chat)
        turn = await chat.says(text, intent, action, ranking=ranking, confidence=0.45 if ranking else 0.58)
        assert "utter_selfhelp_next" not in turn.responses and "utter_selfhelp_entry" not in turn.responses, text
        assert QUEUED & set(turn.responses), (text, turn.responses)
        assert chat.tracker.get_slot("selfhelp_failures") == 1, "the failure counted as for any no"
        kinds = [e["kind"] for e in repository().events_for(chat.tracker.sender_id)]
        assert "selfhelp_failed" in kinds and "handoff_requested" in kinds, kinds
        entry = await HandoffQueue(with_redis).entry(chat.tracker.sender_id)
        assert entry is not None and entry["state"] == "waiting"
        assert entry["request"].context["slots"]["selfhelp_sent"] == ["tv_mosaic"]


async def test_a_person_declined_with_it_is_no_request(run_action, with_redis):
    """"不用转人工，还是没用" declines the person: the next guide, as for any no."""
    chat = Chat(run_action)
    await mosaic_guide_sent(chat)
    turn = await chat.says("不用转人工，还是没用", "deny", "action_handle_deny")
    assert "utter_selfhelp_next" in turn.responses and not QUEUED & set(turn.responses)


@pytest.mark.usefixtures("agents_in_all_day")  # "nobody online" as said in the daytime
async def test_asking_for_the_person_offered_in_words_read_as_a_no_queues_them(run_action, with_redis):
    """Self-help spent and a person offered ("需要为您转接人工客服吗？"): "还是不行，找人工客服", read as a no, filed
    a repair instead, and "还是没用，给我转人工吧", read as nothing in particular, was not understood."""
    for text, intent, action in (("还是不行，找人工客服", "deny", "action_handle_deny"),
                                 ("还是没用，给我转人工吧", "nlu_fallback", "action_fallback")):
        chat = Chat(run_action)
        chat.tracker.sender_id = f"offered-{intent}"
        await mosaic_guide_sent(chat)
        offered = await chat.says("没解决", "deny", "action_handle_deny")
        offered = await chat.says("没解决", "deny", "action_handle_deny") if chat.tracker.get_slot(
            "awaiting") != "offer_human" else offered
        assert chat.tracker.get_slot("awaiting") == "offer_human", offered.responses
        turn = await chat.says(text, intent, action, confidence=0.45)
        assert QUEUED & set(turn.responses), (text, turn.responses)
        assert "utter_fault_ticket_created" not in turn.responses and "utter_ask_identity" not in turn.responses


async def test_a_person_declined_in_other_words_gets_the_next_guide(run_action, with_redis):
    """Found in review: "还是没用，先不转人工，还有别的办法吗" (deny 0.89) after the mosaic guide queued the customer
    (utter_queue_nobody_available): 转人工 counted though said right after 不. A person word after a denial asks
    for no one: the next guide, as for any no."""
    chat = Chat(run_action)
    await mosaic_guide_sent(chat)
    turn = await chat.says("还是没用，先不转人工，还有别的办法吗", "deny", "action_handle_deny", confidence=0.89)
    assert "utter_selfhelp_next" in turn.responses and not QUEUED & set(turn.responses), turn.responses
    assert await HandoffQueue(with_redis).entry(chat.tracker.sender_id) is None


async def test_declining_the_person_offered_in_other_words_files_the_repair(run_action, with_redis):
    """Found in review: to "需要为您转接人工客服吗？", "不想转人工，直接派师傅上门吧" (a no) queued the customer
    instead of filing the repair they asked for."""
    chat = Chat(run_action)
    await mosaic_guide_sent(chat)
    offered = await chat.says("没解决", "deny", "action_handle_deny")
    offered = await chat.says("没解决", "deny", "action_handle_deny") if chat.tracker.get_slot(
        "awaiting") != "offer_human" else offered
    assert chat.tracker.get_slot("awaiting") == "offer_human", offered.responses
    turn = await chat.says("不想转人工，直接派师傅上门吧", "deny", "action_handle_deny")
    assert not QUEUED & set(turn.responses), turn.responses
    assert "utter_ack_repair" in turn.responses, turn.responses
    assert await HandoffQueue(with_redis).entry(chat.tracker.sender_id) is None


@pytest.mark.parametrize("text", ["不想转人工", "不想找人工", "别找人工了", "先不转人工", "不必转人工", "无需转人工",
                                  "不找人工", "算了不转人工了", "刚才人工客服说要重启", "不用转客服",
                                  "能不能找个人上门修一下", "我已经找客服好几次了", "不用了，找客服也没用"])
def test_a_person_declined_or_only_mentioned_is_not_asked_for(text):
    assert not asks_for_a_person(text)


@pytest.mark.parametrize("text", ["还是没用，给我转人工吧", "还是不行，找人工客服", "还是不行找人工", "为什么不转人工",
                                  "我不要机器人 转人工", "我要人工客服", "还是没用，要不转人工吧", "还是不行 要不给我转人工",
                                  "还是没用 给我转客服", "还是不行，帮我转接客服"])
def test_a_person_asked_for_still_is(text):
    assert asks_for_a_person(text)
