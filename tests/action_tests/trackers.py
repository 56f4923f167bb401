"""Tracker fixtures and the outcome of one action run, for action unit tests."""
from __future__ import annotations

import copy
import json
from pathlib import Path

from rasa_sdk import Tracker


FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "trackers"


def load_tracker(name: str, *, text: str | None = None, intent: str | None = None,
                 entities: list | None = None, sender: str | None = None, **slots) -> Tracker:
    """A tracker from a fixture file, optionally with a different latest message or slots."""
    state = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    state = copy.deepcopy(state)
    message = state["latest_message"]
    if text is not None or intent is not None or entities is not None:
        message["text"] = text if text is not None else message["text"]
        message["intent"] = {"name": intent or message["intent"]["name"], "confidence": 0.95}
        message["entities"] = entities or []
        state["events"].append({"event": "action", "name": "action_listen"})
        state["events"].append(
            {"event": "user", "text": message["text"], "parse_data": {"intent": message["intent"], "entities": message["entities"]}, "input_channel": "rest"}
        )
    state["slots"].update(slots)
    return Tracker(
        sender or state["sender_id"], state["slots"], message, state["events"], state["paused"],
        state["followup_action"], state["active_loop"], state["latest_action_name"],
    )


class Turn:
    """The outcome of running one action: what it said and which slots it set."""

    def __init__(self, messages: list[dict], events: list[dict]):
        self.messages = messages
        self.events = events

    @property
    def responses(self) -> list[str]:
        return [m.get("response") for m in self.messages]

    @property
    def slots(self) -> dict:
        return {e["name"]: e["value"] for e in self.events if e.get("event") == "slot"}

    def message(self, response: str) -> dict:
        return next(m for m in self.messages if m.get("response") == response)


def entity(name: str, value: str) -> dict:
    return {"entity": name, "value": value}


class Chat:
    """One conversation through the actions: each turn's slots and replies kept for the next, as Rasa keeps them."""

    def __init__(self, run_action, **slots):
        self.run_action = run_action
        self.tracker = load_tracker("query_bill", **slots)

    async def says(self, text: str, intent: str, action: str, ranking: list[dict] | None = None,
                   confidence: float = 0.95, entities: list[dict] | None = None) -> Turn:
        parsed, entities = {"name": intent, "confidence": confidence}, entities or []
        tracker = self.tracker
        tracker.latest_message = {"text": text, "intent": parsed, "entities": entities,
                                  "intent_ranking": ranking or [], "metadata": {}}
        tracker.events.append({"event": "action", "name": "action_listen"})
        tracker.events.append({"event": "user", "text": text, "parse_data": {"intent": parsed, "entities": entities},
                               "input_channel": "rest"})
        turn = await self.run_action(action, tracker)
        tracker.events.append({"event": "action", "name": action})
        for event in turn.events:
            if event.get("event") == "slot":
                tracker.slots[event["name"]] = event["value"]
        tracker.events += [{"event": "bot", "metadata": {"utter_action": m.get("response")}} for m in turn.messages]
        tracker.events += [event for event in turn.events if event.get("event") == "slot"]  # as Rasa keeps them
        return turn

    async def not_fixed_until_spent(self, tries: int) -> Turn:
        """No to "did it fix it?", up to ``tries`` times, until the fault's self-help is spent: the repair, or a person
        offered first and declined."""
        for _ in range(tries):
            filed = await self.says("没用", "deny", "action_handle_deny")
            if self.tracker.get_slot("awaiting") == "offer_human":
                filed = await self.says("不用了", "deny", "action_handle_deny")
            if self.tracker.get_slot("awaiting") != "selfhelp_feedback":
                break
        return filed
