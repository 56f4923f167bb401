"""Yes/no routing and fallbacks (requests for a human are in ``actions.handoff``).

Yes and no mean different things depending on the bot's last question, kept
in the ``awaiting`` slot; one routing action per answer keeps the rules flat.
"""
from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.backend import record
from actions.chain import continue_with
from actions.clarify import ask_which_intent
from actions.handoff import offer_human
from actions.selfhelp import selfhelp_feedback


class ActionHandleAffirm(Action):
    def name(self) -> str:
        return "action_handle_affirm"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        awaiting = tracker.get_slot("awaiting")
        if awaiting == "selfhelp_feedback":
            return await selfhelp_feedback(dispatcher, tracker, domain, worked=True)
        if awaiting == "offer_human":
            return await continue_with("action_request_human", dispatcher, tracker, domain, [SlotSet("awaiting", None)])
        dispatcher.utter_message(response="utter_ok")
        return []


class ActionHandleDeny(Action):
    def name(self) -> str:
        return "action_handle_deny"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        awaiting = tracker.get_slot("awaiting")
        if awaiting == "selfhelp_feedback":
            return await selfhelp_feedback(dispatcher, tracker, domain, worked=False)
        if awaiting == "offer_human" and tracker.get_slot("selfhelp_failures") and not tracker.get_slot("last_ticket_id"):
            # Self-help failed and no human wanted: the fault still gets a repair ticket.
            return await continue_with(
                "action_create_fault_ticket", dispatcher, tracker, domain, [SlotSet("awaiting", None)]
            )
        dispatcher.utter_message(response="utter_anything_else")
        return [SlotSet("awaiting", None), SlotSet("pending_request", None)]


def trailing_fallbacks(tracker: Tracker) -> int:
    """How many of the latest user messages in a row the NLU could not place."""
    count = 0
    for event in reversed(tracker.events):
        if event.get("event") != "user":
            continue
        if (event.get("parse_data") or {}).get("intent", {}).get("name") != "nlu_fallback":
            break
        count += 1
    return count


class ActionFallback(Action):
    """Ask "A or B?" on a close call, else to rephrase; after two misunderstandings in a row, offer a human."""

    def name(self) -> str:
        return "action_fallback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        await record(tracker, "nlu_fallback")
        if trailing_fallbacks(tracker) >= 2:
            return await offer_human(dispatcher, tracker, domain, "utter_offer_human")
        if ask_which_intent(dispatcher, tracker):
            return []
        dispatcher.utter_message(response="utter_default")
        return []
