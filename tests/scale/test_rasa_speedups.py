"""The cached action-response validator accepts and rejects exactly what Rasa's own does."""
from __future__ import annotations

import pytest
from jsonschema import ValidationError, validate
from rasa.core.actions.action import RemoteAction

from bot.rasa_speedups import validate_action_result

GOOD = {"events": [{"event": "slot", "name": "phone", "value": "13800000001"}],
        "responses": [{"response": "utter_greet"}, {"text": "你好", "buttons": []}]}
BAD = [{"events": "not a list"}, {"events": [{"event": "slot", "name": 5}]}, {"responses": ["not an object"]}]


def test_accepts_what_rasa_accepts():
    validate(GOOD, RemoteAction.action_response_format_spec())
    assert validate_action_result(None, GOOD) is True


@pytest.mark.parametrize("answer", BAD)
def test_rejects_what_rasa_rejects_with_its_hint(answer):
    with pytest.raises(ValidationError) as rasa_error:
        validate(answer, RemoteAction.action_response_format_spec())
    with pytest.raises(ValidationError) as ours:
        validate_action_result(None, answer)
    assert ours.value.message.startswith(rasa_error.value.message)
    assert "custom-actions" in ours.value.message
