"""A close call between two intents is asked about, with both as buttons."""
from __future__ import annotations

import pytest

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


async def asked_which(run_action, channel="rest"):
    """A conversation whose last bot turn asked "A or B?" with its buttons, as Rasa records it."""
    tracker = ambiguous_message(load_tracker("query_bill", text="那个钱的事", intent="nlu_fallback"), channel)
    question = (await run_action("action_fallback", tracker)).message("utter_ask_which_intent")
    tracker.events.append({"event": "action", "name": "action_fallback"})
    tracker.events.append({"event": "bot", "text": "抱歉，我想确认一下：…", "data": {"buttons": question["buttons"]},
                           "metadata": {"utter_action": "utter_ask_which_intent"}})
    return tracker


def typed(tracker, text, intent, confidence):
    tracker.latest_message = {"text": text, "intent": {"name": intent, "confidence": confidence}, "entities": [],
                              "intent_ranking": [], "metadata": {}}
    tracker.events.append({"event": "action", "name": "action_listen"})
    tracker.events.append({"event": "user", "text": text, "parse_data": {"intent": tracker.latest_message["intent"]},
                           "input_channel": "socketio"})
    return tracker


async def test_the_option_typed_keeps_the_messages_own_metadata(run_action):
    """Found in review: the message said in place of the typed number had none, and a bound WeChat follower's
    proof travels in it (bot/channels/wechat.py), so the chosen option asked them to prove who they are."""
    tracker = typed(await asked_which(run_action), "1", "inform", 0.6)
    tracker.events[-1].update({"metadata": {"claim": "signed"}, "message_id": "m-1"})
    said = (await run_action("action_identify_customer", tracker)).events[-1]
    assert (said["metadata"], said["message_id"]) == ({"claim": "signed"}, "m-1")


def said_instead(turn):
    """What the customer's message became: the intent Rasa's policies answer next, in place of the typed one."""
    kinds = [e["event"] for e in turn.events]
    assert kinds == ["rewind", "action", "user"], kinds
    said = turn.events[-1]
    return said["text"], said["parse_data"]["intent"]["name"], said["input_channel"]


@pytest.mark.parametrize("text, intent, confidence, action, chosen", [
    ("2", "inform", 0.61, "action_identify_customer", "query_plan"),  # as the NLU reads a bare number
    ("1", "inform", 0.6, "action_identify_customer", "query_bill"),
    ("第一个", "nlu_fallback", 0.45, "action_fallback", "query_bill"),
    ("２", "nlu_fallback", 0.45, "action_fallback", "query_plan"),
])
async def test_typing_an_options_number_chooses_it_as_a_tap_would(run_action, text, intent, confidence, action, chosen):
    """Found in a live trial: "1" typed to "您是想查话费…，还是想了解套餐…？" was taken for a number given
    (inform) and got "抱歉，我没太明白"; the buttons were spent. The option it numbers is said instead."""
    tracker = typed(await asked_which(run_action), text, intent, confidence)
    turn = await run_action(action, tracker)
    assert not turn.messages
    assert said_instead(turn) == (f"/{chosen}", chosen, "socketio")


@pytest.mark.parametrize("text", ["两个", "一个"])
async def test_how_many_is_not_which(run_action, text):
    """Found in review: "两个" (both) chose the second option, "一个" the first."""
    turn = await run_action("action_fallback", typed(await asked_which(run_action), text, "nlu_fallback", 0.4))
    assert "rewind" not in [e["event"] for e in turn.events]


async def test_a_number_that_names_no_option_or_asked_for_no_option_is_not_a_choice(run_action):
    beyond = typed(await asked_which(run_action), "3", "inform", 0.6)
    assert [e["event"] for e in (await run_action("action_identify_customer", beyond)).events] != [
        "rewind", "action", "user"]
    unasked = typed(load_tracker("query_bill"), "1", "inform", 0.6)
    turn = await run_action("action_identify_customer", unasked)
    assert "rewind" not in [e["event"] for e in turn.events] and turn.messages
