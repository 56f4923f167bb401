"""Continue one action with another inside the same turn.

Rasa's ``FollowupAction`` leaves the next prediction to the policies; chaining
in-process keeps "identify, then answer" deterministic and the rules flat.
"""
from __future__ import annotations

import inspect
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher


def _concrete_actions(base: type = Action):
    for cls in base.__subclasses__():
        yield cls
        yield from _concrete_actions(cls)


def find_action(name: str) -> Action:
    for cls in _concrete_actions():
        if cls.__module__.startswith("actions.") and not inspect.isabstract(cls) and cls().name() == name:
            return cls()
    raise LookupError(f"no action named {name}")


async def continue_with(
    name: str,
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    domain: dict,
    events: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Apply ``events``' slot changes to the tracker, run action ``name``, return all events."""
    events = apply_slots(tracker, events)
    return events + await find_action(name).run(dispatcher, tracker, domain)


def apply_slots(tracker: Tracker, events: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Apply ``events``' slot changes to the tracker (for what runs next in the same turn); the events."""
    events = list(events or [])
    for event in events:
        if event.get("event") == "slot":
            tracker.slots[event["name"]] = event["value"]
    return events
