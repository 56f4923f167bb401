"""Rasa 3.6 hot spots Kefu fixes in the server process, keeping Rasa's behaviour.

Profiled with py-spy under ``bench/chat.py`` (bench/RESULTS.md): a third of the Rasa server's CPU
went to ``RemoteAction._validate_action_result``, which calls ``jsonschema.validate`` for every
custom action's answer, and that re-checks the (constant) response schema against the meta-schema
and builds a new validator each time. Here the validator is built and checked once; answers are
validated against the same schema and raise the same ``ValidationError`` with Rasa's hint.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Dict, Text

from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for
from rasa.core.actions.action import RemoteAction
from rasa.shared.constants import DOCS_BASE_URL

_installed = False


@lru_cache(maxsize=1)
def action_response_validator():
    schema = RemoteAction.action_response_format_spec()
    validator_class = validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


def validate_action_result(self: RemoteAction, result: Dict[Text, Any]) -> bool:
    """What ``jsonschema.validate(result, schema)`` does, without re-checking the schema."""
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
