"""The waiting room's notices as each channel's customer gets them (the model's domain, rendered by Rasa's NLG
as ``RasaConversations.utter`` renders them)."""
from __future__ import annotations

import re

import pytest
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker

from tests.conftest import PROJECT_ROOT


@pytest.fixture(scope="module")
def nlg():
    return TemplatedNaturalLanguageGenerator(Domain.load(str(PROJECT_ROOT / "domain")).responses)


@pytest.mark.parametrize("channel", ["webchat", "rest", "wechat"])
async def test_agents_back_tells_every_typed_channel_that_agents_are_online_again(nlg, channel):
    """Found in a review: the web chat's variant was the place alone (its queue_status notice reads
    正在为您转接人工客服：您排在第…位), so a web customer told nobody was online never heard they were back."""
    message = await nlg.generate("utter_queue_agents_back", DialogueStateTracker("c", []), channel,
                                 position=2, wait_minutes=4)
    assert "人工客服在线" in (message.get("text") or "")
    if channel == "webchat":  # the page shows the place from the structured status, as for every queue notice
        assert message["custom"] == {"kind": "queue_status", "position": "2", "wait_minutes": "4"}


async def test_nobody_online_tells_a_caller_on_hold_every_hold_key(nlg):
    """Found in review: the phone's "目前没有人工客服在线" named 1, 2 and * while hold.keys also gives 3 (the
    self-help guide by SMS, texted on hold with nobody online too: tests/ivr/test_hold_keys_told.py), so a caller
    told nobody was coming never learnt of it."""
    from bot.ivr.flow_loader import load_flow_file

    hold_keys = sorted(key for key, _ in load_flow_file(PROJECT_ROOT / "ivr_flows" / "main.yml").hold.keys)
    message = await nlg.generate("utter_queue_nobody_available", DialogueStateTracker("ivr:c", []), "ivr")
    assert sorted(re.findall(r"按([0-9])", message["text"])) == hold_keys, message["text"]
    assert "按星号键" in message["text"], message["text"]
