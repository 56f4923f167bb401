"""A message the customer asks to leave without saying it ("帮我留个言"): asked for before anything is filed.

Found in a live trial: the callback was filed at once with "帮我留个言" as its only words, and nobody asked what
the message was. Now the assistant says a message will be taken and asks for it (``AWAITING_MESSAGE``); the
customer's next message is the message, whatever the NLU reads it as (``actions.identity.message_being_left``),
and is filed with its words. A message said with the request ("帮我留个言，电视一直没信号") is filed at once.
"""
from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.backend import labels, last_said, names_any
from actions.identity import ASK_MESSAGE, AWAITING_MESSAGE, NOT_A_REQUEST, NOT_WORDS, request_text, without_secrets
from actions.misunderstanding import intent_of, turns
from bot.ivr.matching import normalise


def says_nothing_but_the_request(text: str) -> bool:
    """Whether ``text`` asks to leave a message (``message_request_words``) and says nothing more than that and
    the words around such a request (``message_request_fillers``): "帮我留个言", not "帮我留个言，电视没信号"."""
    words = labels()
    rest = normalise(text)
    asked = [normalise(word) for word in words.get("message_request_words") or () if normalise(word) in rest]
    if not asked:
        return False  # "给我回个电话": a callback, no message to ask for
    for word in sorted({*asked, *map(normalise, words.get("message_request_fillers") or ())}, key=len, reverse=True):
        rest = rest.replace(word, "") if word else rest
    return not rest


def message_answer(tracker: Tracker) -> dict[str, Any] | None:
    """The customer's answer to "what is the message?" (``utter_ask_message``), if it is the request in hand: the
    latest message, or the one before the numbers, yeses and noes given since (someone not known is asked for a
    number after it; found in review, a "好的" on the way filed "好的" as the message).
    Whatever the NLU read it as: a message with a number in it reads as ``inform``."""
    for user, answered_before in reversed(list(replied_before(tracker.events))):
        if ASK_MESSAGE in answered_before and says_more_than_a_number(user.get("text") or ""):
            return user
        if intent_of(user)[0] not in NOT_A_REQUEST:  # a yes or no on the way ("好的", then the number) is no new request
            return None
    return None


def says_more_than_a_number(text: str) -> bool:
    """Whether ``text`` has words besides digits: a number alone, typed to the message question, is who the
    customer is, not their message (it is asked for again)."""
    return bool(NOT_WORDS.sub("", text))


def replied_before(events: list[dict[str, Any]]):
    """Each customer message with the names of the replies to the message before it."""
    before: set[str] = set()
    for user, answered in turns(events):
        yield user, before
        before = answered


def message_text(tracker: Tracker) -> str:
    """The words to file: the answer to "what is the message?", else the request as said."""
    answer = message_answer(tracker)
    return without_secrets(answer.get("text") or "") if answer is not None else request_text(tracker)


def leaves_a_message(tracker: Tracker) -> bool:
    """Whether the request in hand is a message left (asked for, or said with 留言), not only a callback."""
    return message_answer(tracker) is not None or names_any(request_text(tracker), labels().get("message_request_words"))


def ask_for_the_message(dispatcher: CollectingDispatcher, tracker: Tracker, action_name: str) -> list[dict[str, Any]]:
    """Say a message will be taken (once), then ask what it is."""
    if last_said(tracker) != ASK_MESSAGE:
        dispatcher.utter_message(response="utter_ack_message")
    dispatcher.utter_message(response=ASK_MESSAGE)
    return [SlotSet("pending_request", action_name), SlotSet("awaiting", AWAITING_MESSAGE)]
