"""A request named beside the number it is for ("查话费 13800000001"): the request, answered for that number.

The NLU reads a short request beside a number as the number given (``inform``) or as nothing it is sure of, the
request second in its ranking. Taken as the number alone, it got "已记下您的号码。请问您要办理什么业务？" and the bill
asked for was lost (found in a live trial; "13800000001查话费" was read as the bill and worked). A message that says
nothing besides the number but the words around one ("我的手机号是138…", ``message_request_fillers``; "我的宽带账号是
88…", ``login_name_words``) names no request, whatever its ranking holds.
"""
from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.backend import labels, latest_entity, latest_text
from actions.chain import continue_with
from bot.ivr.matching import normalise

# Each intent that asks for something and what starts it, as nlu_data/rules.yml has them (a test holds them alike).
REQUEST_STARTS = {
    "fault_tv": "action_triage_fault", "fault_broadband": "action_triage_fault", "fault_wifi": "action_triage_fault",
    "fault_remote": "action_triage_fault", "report_fault": "action_ask_which_fault", "query_bill": "action_query_bill",
    "query_plan": "action_query_plan", "manage_service": "action_manage_service", "book_visit": "action_book_visit",
    "query_ticket": "action_query_ticket", "complaint": "action_complaint", "leave_message": "action_leave_message",
    "opt_out": "action_opt_out",
}
# How sure the NLU must be, at least, of the request beside the number: "报修 138…" ranks the repair 0.08 under the
# number's 0.70, where words that name no request rank any of them 0.03 at most ("不对 是138…": 0.01).
NAMED_AT_LEAST = 0.05
DIGITS = re.compile(r"\d")


def request_named(tracker: Tracker) -> str | None:
    """What starts the request the latest message names beside the number it gives, or None (no number, or no
    words but the number's)."""
    if not (latest_entity(tracker, "phone_number") or latest_entity(tracker, "account_number")):
        return None
    words = labels()
    rest = DIGITS.sub("", normalise(latest_text(tracker)))
    around = {*(words.get("message_request_fillers") or ()), *(words.get("login_name_words") or ())}
    for word in sorted(map(normalise, around), key=len, reverse=True):
        rest = rest.replace(word, "") if word else rest
    if not rest:
        return None
    ranking = (tracker.latest_message or {}).get("intent_ranking") or []
    named = [r for r in ranking if r.get("name") in REQUEST_STARTS and (r.get("confidence") or 0) >= NAMED_AT_LEAST]
    return REQUEST_STARTS[max(named, key=lambda r: r["confidence"])["name"]] if named else None


async def start_request(name: str, dispatcher: CollectingDispatcher, tracker: Tracker,
                        domain: dict) -> list[dict[str, Any]]:
    """Start the request as its rule would (``name`` from ``request_named``); the number given is read by it."""
    return await continue_with(name, dispatcher, tracker, domain)
