"""What every action needs from outside Rasa: the database, the catalogue, the labels.

Blocking calls (SQL, file reads) run in a worker thread so the action
server's event loop stays free.
"""
from __future__ import annotations

import asyncio
import json
import re
from functools import lru_cache
from typing import Any, Callable

from rasa_sdk import Tracker

from bot.db.repository import Repository
from bot.labels import labels, names_any, parts_named  # noqa: F401 - the actions' words, re-exported
from bot.outcomes import record as record_outcome
from bot.selfhelp import Catalogue, load_catalogue
from bot.settings import get_settings


@lru_cache(maxsize=1)
def repository() -> Repository:
    return Repository(get_settings().database_url)


async def db(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a repository call off the event loop."""
    return await asyncio.to_thread(call, *args, **kwargs)


def catalogue() -> Catalogue:
    return load_catalogue(get_settings().selfhelp_catalogue)


def channel_of(tracker: Tracker) -> str:
    return tracker.get_latest_input_channel() or ""


def latest_entity(tracker: Tracker, name: str) -> str | None:
    """An entity from the latest message only (slots may hold stale values), as text.

    The NLU gives text; a payload typed as a message (``/report_fault{"fault_code": 123}``) can give any
    JSON: a number is read as its text, anything else (a list, an object, true) as no entity."""
    value = next(tracker.get_latest_entity_values(name), None)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value if isinstance(value, str) else None


def latest_text(tracker: Tracker) -> str:
    """The customer's latest message as typed or said ("" for none)."""
    return str((tracker.latest_message or {}).get("text") or "")


def says_any(tracker: Tracker, words: list[str] | None) -> bool:
    """Whether the latest message has any of ``words`` (one of the editors' lists in content/labels.yml)
    in it, letters in any case."""
    text = latest_text(tracker).lower()
    return any(word and word.lower() in text for word in words or ())


def last_said(tracker: Tracker) -> str | None:
    """The response the bot said last (Rasa keeps it in the bot event's metadata)."""
    said = next((e for e in reversed(tracker.events) if e.get("event") == "bot"), None)
    return None if said is None else (said.get("metadata") or {}).get("utter_action")


async def record(tracker: Tracker, event: str, *, customer: str = "", **data: Any) -> None:
    """Append an outcome event for KPIs (buffered and retried when the database is down); ``customer``:
    the key of the customer the conversation proved it is (``bot.outcomes.events.customer_key``), if any."""
    await record_outcome(tracker.sender_id, event, channel=channel_of(tracker), customer=customer, **data)


# A button's payload: an intent and, in braces, its entities as JSON ('/manage_service{"plan_code": "BB300"}').
PAYLOAD = re.compile(r"/(?P<intent>[\w-]+)(?P<entities>\{.*\})?", re.S)


def button_said(payload: Any) -> tuple[str, dict] | None:
    """The intent and entities a button's payload says, as a tap sends them; None when it is no such payload."""
    parsed = PAYLOAD.fullmatch(str(payload or ""))
    if parsed is None:
        return None
    try:
        entities = json.loads(parsed["entities"]) if parsed["entities"] else {}
    except ValueError:
        return None
    return (parsed["intent"], entities) if isinstance(entities, dict) else None
