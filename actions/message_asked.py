"""A message the customer asks to leave without saying it ("帮我留个言"): asked for before anything is filed.

Found in a live trial: the callback was filed at once with "帮我留个言" as its only words, and nobody asked what
the message was. Now the assistant says a message will be taken and asks for it (``AWAITING_MESSAGE``); the
customer's next message is the message, whatever the NLU reads it as (``actions.identity.message_being_left``),
and is filed with its words. A message said with the request ("帮我留个言，电视一直没信号") is filed at once.
"""
from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.backend import labels, last_said, names_any
from actions.chain import apply_slots
from actions.identity import (ASK_MESSAGE, AWAITING_MESSAGE, NOT_A_REQUEST, NOT_WORDS, establish, identified,
                              request_text, typed_number, without_secrets)
from actions.misunderstanding import intent_of, turns
from bot.db.repository import DatabaseError
from bot.ivr.matching import normalise, without
from bot.phone import local_phone

# A mobile number written in the message the way people space it ("138 0013 8000", "138-0013-8000"): the NLU's
# pattern (nlu_data/nlu/regexes.yml) tags eleven digits in a row only. Eleven digits and no more, so a number said
# next ("138 0013 8000 3天没网了") is not taken into it (found in review: the whole run was no phone, and it was asked for).
SPELT_NUMBER = re.compile(r"(?<!\d)1(?:[\s\-－]?\d){10}(?!\d)")


def says_nothing_but_the_request(text: str) -> bool:
    """Whether ``text`` asks to leave a message (``message_request_words``) and says nothing more than that and
    the words around such a request (``message_request_fillers``): "帮我留个言", not "帮我留个言，电视没信号". A number
    with it ("帮我留个言 138…") is who the customer is, no message (found in a trial: it was filed as one)."""
    words = labels()
    rest = normalise(text)
    asked = [normalise(word) for word in words.get("message_request_words") or () if normalise(word) in rest]
    if not asked:
        return False  # "给我回个电话": a callback, no message to ask for
    rest = without(rest, {*asked, *map(normalise, words.get("message_request_fillers") or ())})
    return not says_more_than_a_number(rest)


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


async def number_given_with_it(tracker: Tracker) -> list[dict[str, Any]]:
    """The customer a number given with the request names ("帮我留个言 138…"), remembered as a number given on its
    own is, so the message asked for next is filed for them without asking for the number (found in a trial: the
    request was filed at once as the message); only for someone not known yet: a message never changes whom the
    conversation knows (``ActionLeaveMessage.whom``). A number that is no customer's stays in its slot (Rasa's
    mapping) and is the one to call back."""
    spelt = apply_slots(tracker, number_in_the_message(tracker))  # "帮我留个言 138 0013 8000"
    if not (typed_number(tracker) or spelt):
        return []
    try:
        who = await establish(tracker, this_turn=False)  # whom we knew (or the number's slot names)
        if who.customer is None:
            who = await establish(tracker)
    except DatabaseError:
        return spelt  # the number stays in its slot, and is read again when the message is filed
    return spelt + (who.events + identified(who.customer, who.verified) if who.customer is not None else [])


def number_given_for_it(tracker: Tracker) -> str | None:
    """The mobile number (tagged, or spelt the way people space it) given for the message before it was said: with
    the request ("帮我留个言 139…") or alone to "what is the message?". It is where the customer wants to be called
    back (found in review: someone known who gave another number had the message filed to call back their own
    phone). Not one written in the message itself ("请打138…找我爱人", "师傅留的电话138…打不通"): words for whoever
    reads it."""
    said = []
    for user, answered in reversed(list(turns(tracker.events))[:-1]):
        if ASK_MESSAGE not in answered:
            break
        said.append(user)
    return next((number for user in said if (number := mobile_in(user))), None)


def mobile_in(user: dict[str, Any]) -> str | None:
    """The mobile number a customer message gave: tagged by the NLU, else written in its words."""
    entities = (user.get("parse_data") or {}).get("entities") or []
    tagged = (local_phone(str(e.get("value") or "")) for e in entities if e.get("entity") == "phone_number")
    spelt = (local_phone(match.group()) for match in SPELT_NUMBER.finditer(user.get("text") or ""))
    return next((number for number in (*tagged, *spelt) if number), None)


def number_in_the_message(tracker: Tracker) -> list[dict[str, Any]]:
    """A mobile number written in the message's words that the NLU did not tag ("我的电话是138 0013 8000，宽带一直断"),
    kept as the number given (``phone_number``), so the customer is not asked for it again (found in a trial: the
    message was filed and the number asked for as if never said)."""
    if typed_number(tracker):
        return []
    found = (local_phone(match.group()) for match in SPELT_NUMBER.finditer(message_text(tracker)))
    phone = next((number for number in found if number), None)
    return [SlotSet("phone_number", phone)] if phone else []
