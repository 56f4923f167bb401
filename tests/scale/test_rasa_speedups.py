"""The cached action-response validator accepts and rejects exactly what Rasa's own does."""
from __future__ import annotations

import pytest
from jsonschema import ValidationError, validate
from rasa.core.actions.action import RemoteAction

from bot.rasa_speedups import validate_action_result

GOOD = [{"events": [{"event": "slot", "name": "phone", "value": "13800000001"}],
         "responses": [{"response": "utter_greet"}, {"text": "你好", "buttons": []}]},
        # what Kefu's actions answer: slots, a follow-up, a pause for the handoff, bot messages
        {"events": [{"event": "slot", "timestamp": None, "name": "selfhelp_sent", "value": ["tv_no_signal"]},
                    {"event": "followup", "name": "action_listen"}, {"event": "pause"},
                    {"event": "bot", "text": "你好", "data": {"buttons": []}, "metadata": {}}],
         "responses": [{"response": "utter_selfhelp_entry", "attachment": {"type": "video"}}]},
        {}, {"events": []}]
BAD = [{"events": "not a list"}, {"events": [{"event": "slot", "name": 5}]}, {"responses": ["not an object"]},
       {"events": [{"event": "no_such_event"}]}, {"events": [{"name": "no event key"}]},
       {"events": [{"event": 7}]}, {"events": ["not an object"]},
       {"events": [{"event": "slot", "name": "a", "value": 1}, {"event": "user", "text": 5}]}, "not an object"]


@pytest.mark.parametrize("answer", GOOD)
def test_accepts_what_rasa_accepts(answer):
    validate(answer, RemoteAction.action_response_format_spec())
    assert validate_action_result(None, answer) is True


@pytest.mark.parametrize("answer", BAD)
def test_rejects_what_rasa_rejects_with_its_hint(answer):
    with pytest.raises(ValidationError) as rasa_error:
        validate(answer, RemoteAction.action_response_format_spec())
    with pytest.raises(ValidationError) as ours:
        validate_action_result(None, answer)
    assert ours.value.message.startswith(rasa_error.value.message)
    assert "custom-actions" in ours.value.message
