"""Asked for a number, the customer asks why, or would rather not give it ("为什么要给你手机号？我不想给").

Found in a live trial: the NLU reads such words as nothing it is sure of, and the customer got "抱歉，我没太明白",
with no word of what the number is for. A why question (a word of each part of the editors' ``number_why_question``,
read as the waiting room reads its own number step: bot/handoff/number_step.py)
hears what the number is for, in the terms of the number asked: a request that tells the account's details needs the
holder's proof; one filed on any registered number does not; a new install needs only a number to call back. The
question stays open, so the number typed next still answers the request. A number declined without a why
(``number_declined_words``: "不想给号码") is a no to the question, answered as any no is (``action_handle_deny``).
"""
from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.backend import labels, latest_entity, latest_text, says_any
from actions.identity import asks_contact_number, proof_needed
from bot.handoff.number_step import asks_why


def number_asked(tracker: Tracker) -> str | None:
    """The request waiting for the customer's number, while its number question is open."""
    return tracker.get_slot("pending_request") if tracker.get_slot("awaiting") == "identity" else None


def gives_no_number(tracker: Tracker) -> bool:
    return not (latest_entity(tracker, "phone_number") or latest_entity(tracker, "account_number"))


def asks_why_the_number(tracker: Tracker) -> bool:
    """Whether the latest message, said to the number question, asks what the number is for."""
    return bool(number_asked(tracker)) and gives_no_number(tracker) and asks_why(latest_text(tracker))


def declines_the_number(tracker: Tracker) -> bool:
    """Whether the latest message, said to the number question, declines to give it ("我不想留电话")."""
    return (bool(number_asked(tracker)) and gives_no_number(tracker)
            and says_any(tracker, labels().get("number_declined_words")))


def tell_why_the_number(dispatcher: CollectingDispatcher, tracker: Tracker) -> list[dict[str, Any]]:
    """What the number asked for is for; the question stays open (``awaiting`` and the request are kept)."""
    request = number_asked(tracker)
    if asks_contact_number(request):
        dispatcher.utter_message(response="utter_why_contact_number")
    elif proof_needed(request):
        dispatcher.utter_message(response="utter_why_number_proof")
    else:
        dispatcher.utter_message(response="utter_why_number")
    return []
