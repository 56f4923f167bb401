"""A close call between two intents is asked about, with both as buttons."""
from __future__ import annotations

from actions.clarify import close_pair
from tests.action_tests.trackers import load_tracker

NAMED = {"query_bill": "查话费、流量或账单", "query_plan": "了解套餐和资费", "complaint": "投诉"}


def ranking(*pairs):
    return {"intent": {"name": "nlu_fallback", "confidence": 0.5},
            "intent_ranking": [{"name": "nlu_fallback", "confidence": 0.5}]
            + [{"name": name, "confidence": confidence} for name, confidence in pairs]}


def test_two_close_plausible_intents_make_a_pair():
    assert close_pair(ranking(("query_bill", 0.41), ("query_plan", 0.38), ("complaint", 0.1)), NAMED) == (
        "query_bill", "query_plan")


def test_a_clear_winner_a_weak_runner_up_or_an_unnamed_intent_is_not_asked_about():
    assert close_pair(ranking(("query_bill", 0.7), ("query_plan", 0.2)), NAMED) is None
    assert close_pair(ranking(("query_bill", 0.3), ("query_plan", 0.1)), NAMED) is None
    assert close_pair(ranking(("query_bill", 0.4), ("greet", 0.38)), NAMED) is None
    assert close_pair({"intent": {"name": "nlu_fallback", "confidence": 1.0},
                       "intent_ranking": [{"name": "nlu_fallback", "confidence": 1.0}]}, NAMED) is None


def ambiguous_message(tracker, channel):
    tracker.latest_message.update(ranking(("query_bill", 0.42), ("query_plan", 0.40)))
    last_user_turn = next(e for e in reversed(tracker.events) if e.get("event") == "user")
    last_user_turn.update(input_channel=channel, parse_data=tracker.latest_message)
    return tracker


async def test_the_fallback_asks_which_one_with_both_as_buttons(run_action):
    tracker = ambiguous_message(load_tracker("query_bill", text="那个钱的事", intent="nlu_fallback"), "rest")
    turn = await run_action("action_fallback", tracker)
    assert turn.responses == ["utter_ask_which_intent"]
    question = turn.message("utter_ask_which_intent")
    assert [b["payload"] for b in question["buttons"]] == ["/query_bill", "/query_plan"]
    assert question["first"] == "查话费、流量或账单" and question["second"] == "了解套餐和资费"


async def test_on_the_phone_the_question_has_no_buttons(run_action):
    tracker = ambiguous_message(load_tracker("query_bill", text="那个钱的事", intent="nlu_fallback"), "ivr")
    turn = await run_action("action_fallback", tracker)
    assert turn.responses == ["utter_ask_which_intent"]
    assert not turn.message("utter_ask_which_intent")["buttons"]
