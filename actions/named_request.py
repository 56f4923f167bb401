"""A request named beside the number it is for ("查话费 13800000001"): the request, answered for that number.

The NLU reads a short request beside a number as the number given (``inform``) or as nothing it is sure of, the
request second in its ranking. Taken as the number alone, it got "已记下您的号码。请问您要办理什么业务？" and the bill
asked for was lost (found in a live trial). The ranking does not say which request: its noise sits where such a
request does ("我再输一遍 138…" ranked a complaint 0.09 and filed one, "改成138…" a visit 0.07; found in review), so
the request is named by the message's own words, the editors' ``requests_named_with_a_number`` (content/labels.yml),
one request's words and no other's. A number with no such word ("我的手机号是138…", "换个号 138…", "电视 138…") is
the number, noted. Nothing is started while another request waits for this number or its code (``pending_request``).
"""
from __future__ import annotations

import re

from rasa_sdk import Tracker

from actions.backend import labels, latest_entity, latest_text
from bot.ivr.matching import normalise
from bot.labels import names_any

# Each request a number may be named beside and what starts it, as nlu_data/rules.yml has them (a test holds them
# alike). No fault: the fault is read from the latest intent, which here is the number's (report_fault asks which).
REQUEST_STARTS = {
    "report_fault": "action_ask_which_fault", "query_bill": "action_query_bill", "query_plan": "action_query_plan",
    "manage_service": "action_manage_service", "book_visit": "action_book_visit",
    "query_ticket": "action_query_ticket", "complaint": "action_complaint", "leave_message": "action_leave_message",
    "opt_out": "action_opt_out",
}
DIGITS = re.compile(r"\d")
# The editors' words taking a request back: a request's word inside one of them ("不投诉了 138…") does not name it.
WITHDRAWN = ("complaint_withdrawn_words", "complaint_denied_words", "message_withdrawn_words")


def request_named(tracker: Tracker) -> str | None:
    """What starts the request the latest message names beside the number it gives (``requests_named_with_a_number``,
    longest words first: 报修工单 is the ticket's, not a repair's too), or None: no number, no request's words or two
    requests', or a request already waiting."""
    if tracker.get_slot("pending_request"):
        return None
    if not (latest_entity(tracker, "phone_number") or latest_entity(tracker, "account_number")):
        return None
    said = DIGITS.sub("", normalise(latest_text(tracker)))
    words = labels()
    taken_back = [normalise(word) for key in WITHDRAWN for word in words.get(key) or ()]  # 投诉 in 不投诉了
    listed = [(normalise(word), request) for request, request_words in
              (words.get("requests_named_with_a_number") or {}).items() if request in REQUEST_STARTS
              for word in request_words or () if word]
    named = set()
    for word, request in sorted(listed, key=lambda pair: len(pair[0]), reverse=True):  # 报修工单 before 报修
        if names_any(said, [word], taken_back):
            named.add(request)
            said = said.replace(word, " ")
    return REQUEST_STARTS[named.pop()] if len(named) == 1 else None


def number_beside_no_request(tracker: Tracker) -> bool:
    """Whether the latest message gives a number with words that name no request, while none waits: the number,
    noted as a number typed alone is. Found in the verification trial: "我不是要投诉 手机号是138…", read as nothing
    in particular, got "抱歉，我没太明白" and the number was lost."""
    return (not tracker.get_slot("pending_request") and request_named(tracker) is None
            and bool(latest_entity(tracker, "phone_number") or latest_entity(tracker, "account_number")))
