"""Customer satisfaction: ask once when the assistant has resolved the conversation, record the answer.

``ask_csat`` is called by the action that resolves (self-help worked); it asks at most once per
conversation (slot ``csat_asked``). ``action_record_csat`` takes a 1-5 score or a skip, once, from
the buttons (chat) or menu links (WeChat), whose payloads name the intent: no NLU examples, so no
unrelated sentence is ever taken for a score. A score typed right after the question ("3分吧，等太久了"),
which the NLU cannot place, is taken by the fallback (``typed_score``): found trying the chat, it got
"抱歉，我没太明白", and the page had spent the buttons.
"""
from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.backend import channel_of, last_said, latest_entity, latest_text, record

SCORES = ("1", "2", "3", "4", "5")
# A score typed: a digit (or 一…五) before 分 (not 分钟) or 星, or a digit alone.
TYPED_SCORE = re.compile(r"(?<![0-9.])([1-5一二三四五])\s*(?:分(?!钟)|颗星|星)|^\s*([1-5])\s*$")
NUMERALS = {"一": "1", "二": "2", "三": "3", "四": "4", "五": "5"}


def typed_score(tracker: Tracker) -> str | None:
    """The score the customer typed in answer to the score question, asked right before and not yet answered;
    None for anything else."""
    if last_said(tracker) != "utter_ask_csat" or tracker.get_slot("csat_done"):
        return None
    found = TYPED_SCORE.search(latest_text(tracker))
    if found is None:
        return None
    digit = found.group(1) or found.group(2)
    return NUMERALS.get(digit, digit)


async def ask_csat(dispatcher: CollectingDispatcher, tracker: Tracker) -> list[dict[str, Any]]:
    # A caller is asked by the phone flow (ivr_flows/main.yml csat_survey, keys 1-5), as after an agent
    # (bot.handoff.handback.ask_csat): asked here too, they heard a score asked for with no way to give it.
    if tracker.get_slot("csat_asked") or channel_of(tracker) == "ivr":
        return []
    dispatcher.utter_message(response="utter_ask_csat")
    await record(tracker, "csat_asked")
    return [SlotSet("csat_asked", True)]


class ActionRecordCsat(Action):
    def name(self) -> str:
        return "action_record_csat"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        if tracker.get_slot("csat_done"):
            dispatcher.utter_message(response="utter_csat_already")
            return []
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        score = str(latest_entity(tracker, "csat_score") or "").strip()
        if intent == "csat_skip" or score not in SCORES:
            await record(tracker, "csat_skipped")
            dispatcher.utter_message(response="utter_csat_skipped")
            return [SlotSet("csat_done", True), SlotSet("csat_asked", True)]
        return await record_score(dispatcher, tracker, score)


async def record_score(dispatcher: CollectingDispatcher, tracker: Tracker, score: str) -> list[dict[str, Any]]:
    """Record a 1-5 ``score`` and thank the customer."""
    await record(tracker, "csat_given", score=int(score), asked=bool(tracker.get_slot("csat_asked")))
    dispatcher.utter_message(response="utter_csat_thanks")
    return [SlotSet("csat_done", True), SlotSet("csat_asked", True)]
