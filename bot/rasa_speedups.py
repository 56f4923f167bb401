"""Rasa 3.6 hot spots Kefu fixes in the server process, keeping Rasa's behaviour.

Profiled with py-spy under ``bench/chat.py`` (bench/RESULTS.md): a third of the Rasa server's CPU
went to ``RemoteAction._validate_action_result``, which calls ``jsonschema.validate`` for every
custom action's answer, and that re-checks the (constant) response schema against the meta-schema
and builds a new validator each time. Here the validators are built and checked once.

Even so, checking an answer stayed the largest cost of a custom action in the Rasa server: each
event is tried against all 23 event schemas of the ``oneOf`` (every schema but one fails on its
``event`` constant, and jsonschema builds an error for each). An event whose ``event`` names one
of them can only match the schemas with that constant, so it is checked against those alone —
the same verdict. Any answer found invalid is checked again with the full schema, so it raises
exactly the ``ValidationError`` Rasa raises, with Rasa's hint.
"""
from __future__ import annotations

import copy
from functools import lru_cache
from typing import Any, Dict, Text

from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for
from rasa.core.actions.action import RemoteAction
from rasa.shared.constants import DOCS_BASE_URL

_installed = False


def _validator(schema: dict):
    validator_class = validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


@lru_cache(maxsize=1)
def action_response_validator():
    return _validator(RemoteAction.action_response_format_spec())


@lru_cache(maxsize=1)
def _answer_without_events_validator():
    """The answer's schema with any array of objects allowed as events (they are checked one by one)."""
    schema = copy.deepcopy(RemoteAction.action_response_format_spec())
    schema["properties"]["events"]["items"] = {"type": "object"}
    return _validator(schema)


@lru_cache(maxsize=64)
def _event_validator(kind: str):
    """The event schema with its ``oneOf`` narrowed to the schemas whose ``event`` constant is ``kind``
    (None: no schema allows ``kind``, so no event of that kind is valid)."""
    items = copy.deepcopy(RemoteAction.action_response_format_spec()["properties"]["events"]["items"])
    items["oneOf"] = [branch for branch in items["oneOf"]
                      if branch.get("properties", {}).get("event", {}).get("const", kind) == kind]
    return _validator(items) if items["oneOf"] else None


def _valid(result: Any) -> bool:
    if not _answer_without_events_validator().is_valid(result):
        return False
    events = result.get("events") if isinstance(result, dict) else None
    for event in events or ():
        kind = event.get("event")
        if not isinstance(kind, str):
            return False
        validator = _event_validator(kind)
        if validator is None or not validator.is_valid(event):
            return False
    return True


def validate_action_result(self: RemoteAction, result: Dict[Text, Any]) -> bool:
    """What ``jsonschema.validate(result, schema)`` does, without re-checking the schema."""
    if _valid(result):
        return True
    error = best_match(action_response_validator().iter_errors(result))
    if error is None:
        return True
    error.message += (
        f". Failed to validate Action server response from API, "
        f"make sure your response from the Action endpoint is valid. "
        f"For more information about the format visit "
        f"{DOCS_BASE_URL}/custom-actions"
    )
    raise error


def install() -> None:
    """Patch the Rasa classes once per process (called when Kefu's stores are created)."""
    global _installed
    if not _installed:
        RemoteAction._validate_action_result = validate_action_result
        _installed = True
