"""Ask which of two close intents the customer meant, instead of guessing.

Rasa's FallbackClassifier turns an unsure top guess (``threshold``) or one barely ahead of the
second (``ambiguity_threshold``) into ``nlu_fallback`` but keeps the classifier's ranking in
the parse data. When the two best guesses there are both plausible and close, the fallback
asks a short question with both as buttons; a tap sends that intent, and so does typing an option's
number ("1", "第二个"), which the NLU cannot place. The intents' names come from ``intent_label`` in
content/labels.yml; intents without a name are never offered.
"""
from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import ActionExecuted, UserUttered, UserUtteranceReverted
from rasa_sdk.executor import CollectingDispatcher

from actions.backend import button_said, channel_of, labels, latest_text
from actions.plan_named import PLAN_QUESTIONS, named_plan_button
from actions.visit_time import NUMERAL, numeral

ASK_WHICH = "utter_ask_which_intent"
# An option's number typed on its own: "2", "２", "二", "第2个", "选1", "1." (a chat shows buttons unnumbered,
# WeChat as links: the customer counts them).
# A measure word needs 第 or 选 before it: "两个" and "一个" alone say how many, not which (found in review: "两个"
# meaning both chose the second).
OPTION_NUMBER = re.compile(rf"(?:(?:选|第)\s*([{NUMERAL}０-９]{{1,2}})\s*(?:个|项|种)?|([{NUMERAL}０-９]{{1,2}}))\s*[.。,，!！]?")
FULL_WIDTH = str.maketrans("０１２３４５６７８９", "0123456789")
SECOND_AT_LEAST = 0.2  # the runner-up must be a real candidate, not noise
GAP_AT_MOST = 0.25  # and close enough to the winner that guessing would be a coin toss


def close_pair(parse_data: dict[str, Any], named: dict[str, str]) -> tuple[str, str] | None:
    """The two best intents if they are close and both have a name to show, else None."""
    ranking = [r for r in parse_data.get("intent_ranking") or [] if r.get("name") != "nlu_fallback"]
    if len(ranking) < 2:
        return None
    first, second = ranking[0], ranking[1]
    if second["confidence"] < SECOND_AT_LEAST or first["confidence"] - second["confidence"] > GAP_AT_MOST:
        return None
    if first["name"] not in named or second["name"] not in named:
        return None
    return first["name"], second["name"]


def ask_which_intent(dispatcher: CollectingDispatcher, tracker: Tracker) -> bool:
    """Ask "A or B?" about the latest message; False when it was not a close call."""
    named = labels().get("intent_label") or {}
    pair = close_pair(tracker.latest_message or {}, named)
    if pair is None:
        return False
    first, second = pair
    buttons = [] if channel_of(tracker) == "ivr" else [
        {"title": named[first], "payload": f"/{first}"}, {"title": named[second], "payload": f"/{second}"}]
    dispatcher.utter_message(response=ASK_WHICH, first=named[first], second=named[second],
                             buttons=buttons)
    return True


NOT_UNDERSTOOD = "utter_default"  # the fallback's "抱歉，我没太明白您的意思…"


def question_replied_to(tracker: Tracker) -> tuple[str | None, list[dict[str, Any]]]:
    """The question the customer's latest message answers, and its payload buttons in the order shown: the bot's
    last reply before it; or, when that only said it did not understand (``NOT_UNDERSTOOD``), the reply before
    that, and so on. Found in a trial: a reply to the cheaper plans that was not understood closed them, and the
    plan's exact name typed next got a second "没太明白". The question stays open until the bot says anything
    else (the customer moved on); only a misunderstanding is looked through, as the customer is still answering."""
    events = tracker.events
    latest_user = next((i for i in range(len(events) - 1, -1, -1) if events[i].get("event") == "user"), None)
    said: list[dict[str, Any]] = []  # the bot's messages of the reply being read, oldest first
    for event in reversed(events[:latest_user or 0]):
        if event.get("event") == "bot":
            said.insert(0, event)
        elif event.get("event") == "user":
            if not said or any((e.get("metadata") or {}).get("utter_action") != NOT_UNDERSTOOD for e in said):
                break
            said = []  # only "没太明白": the customer is still answering the question before it
    if not said:
        return None, []
    buttons = [b for event in said for b in (event.get("data") or {}).get("buttons") or [] if b.get("payload")]
    return (said[-1].get("metadata") or {}).get("utter_action"), buttons


# The questions whose buttons a typed number picks: "A or B?", and the plans cheaper than the customer's
# (actions/cheaper_plans.py: "2" picked the second plan shown, as a tap would; a plan's name picks it too,
# actions/plan_named.py).
NUMBERED_QUESTIONS = frozenset({ASK_WHICH, *PLAN_QUESTIONS})


def typed_option(tracker: Tracker) -> dict[str, Any] | None:
    """The button of a ``NUMBERED_QUESTIONS`` question whose number the customer typed instead of tapping it,
    else None."""
    question, buttons = question_replied_to(tracker)
    if question not in NUMBERED_QUESTIONS:
        return None
    found = OPTION_NUMBER.fullmatch(latest_text(tracker).strip())
    number = numeral((found.group(1) or found.group(2)).translate(FULL_WIDTH)) if found else None
    return buttons[number - 1] if number and 0 < number <= len(buttons) else None


async def take_typed_option(tracker: Tracker) -> list[dict[str, Any]] | None:
    """Events that take the typed number (or a plan's name, ``named_plan_button``) back and say the option's
    payload in its place, as a tap would have (the policies then answer that intent); None when the message
    was no option's number or name."""
    button = typed_option(tracker) or await named_plan_button(tracker, *question_replied_to(tracker))
    said_by_it = button_said(button["payload"]) if button else None
    if said_by_it is None:
        return None
    intent, entities = said_by_it
    parse_data = {"text": button["payload"], "intent": {"name": intent, "confidence": 1.0},
                  "intent_ranking": [{"name": intent, "confidence": 1.0}],
                  "entities": [{"entity": k, "value": v} for k, v in entities.items()]}
    latest = next((e for e in reversed(tracker.events) if e.get("event") == "user"), {})
    said = UserUttered(button["payload"], parse_data, input_channel=latest.get("input_channel"))
    # The typed message's own metadata (a bound WeChat follower's signed claim, bot/channels/wechat.py) and id go
    # with it, as a tap's would: found in review, without them the chosen option asked a proven customer to prove.
    said.update({"metadata": latest.get("metadata"), "message_id": latest.get("message_id")})
    return [UserUtteranceReverted(), ActionExecuted("action_listen"), said]
