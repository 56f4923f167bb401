"""Acknowledge a request before asking who the customer is.

A complaint, a callback request or a fault that self-help could not fix needs the customer's
identity; asking for a number first feels like being ignored. Actions that mix this in say
what will happen (their ``acknowledgement`` response) right before the identity question,
in the same turn, on every channel. They touch nothing else of the identification.
"""
from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.misunderstanding import intent_of
from bot.handoff.masking import AWAITING_PROOF


def asked_identity(events: list[dict[str, Any]], action_name: str) -> bool:
    """Whether the action parked itself to ask who the customer is (``pending_request``)."""
    return any(event.get("event") == "slot" and event.get("name") == "pending_request"
               and event.get("value") == action_name for event in events)


def acknowledged_already(tracker: Tracker, response: str) -> bool:
    """Whether ``response`` was said since the customer made the request (the turns after it only
    gave a number or a code): saying it again after the number reads like not being listened to."""
    users = [index for index, event in enumerate(tracker.events) if event.get("event") == "user"]
    if not users or intent_of(tracker.events[users[-1]])[0] != "inform":
        return False  # the request itself is being answered
    for event in reversed(tracker.events[:users[-1]]):
        if event.get("event") == "bot" and (event.get("metadata") or {}).get("utter_action") == response:
            return True
        if event.get("event") == "user" and intent_of(event)[0] != "inform":
            return False
    return False


class AcknowledgeFirst:
    """Mixin for an identified action; put it before the action's base class."""

    acknowledgement: str
    # Said instead when ``asks_otherwise`` holds: a visit to call off is not one to arrange (actions/visits.py).
    acknowledgement_otherwise: str = ""
    # Said when the customer answers this request's number or code question with more of the request, before the
    # question again: a complaint described then ("装机师傅迟到了三个小时") got only the question, as if unheard.
    acknowledgement_more: str = ""

    def asks_otherwise(self, tracker: Tracker) -> bool:
        return False

    def acknowledged_otherwise(self, tracker: Tracker) -> bool:
        """Whether the reply before this action's already said what will happen (a fault said to keep coming back:
        "直接为您登记报修"), so the acknowledgement would say it twice."""
        return False

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        first_new_message = len(dispatcher.messages)
        events = await super().run(dispatcher, tracker, domain)
        # Said once: not again when the customer answers this request's number or code question with words
        # ("这周六上午").
        asking = (tracker.get_slot("pending_request") == self.name()
                  and tracker.get_slot("awaiting") in ("identity", AWAITING_PROOF))
        otherwise = bool(self.acknowledgement_otherwise) and self.asks_otherwise(tracker)
        said_before = asking or self.acknowledged_otherwise(tracker) or (
            acknowledged_already(tracker, self.acknowledgement_otherwise) if otherwise
            else acknowledged_already(tracker, self.acknowledgement))
        if asked_identity(events, self.name()) and not said_before:
            if otherwise:
                dispatcher.utter_message(response=self.acknowledgement_otherwise)
            else:
                dispatcher.utter_message(response=self.acknowledgement)
            dispatcher.messages.insert(first_new_message, dispatcher.messages.pop())
        elif asked_identity(events, self.name()) and asking and self.acknowledgement_more:
            dispatcher.utter_message(response=self.acknowledgement_more)
            dispatcher.messages.insert(first_new_message, dispatcher.messages.pop())
        return events
