"""The Rasa event broker's outcome events carry the conversation's channel.

Found by the head-of-operations tester: ``kefu_outcomes_total{channel="unknown",kind="customer_identified"}``
— the customer_id slot event Rasa publishes names no channel, so every identification was counted
(and stored) under no channel at all."""
from __future__ import annotations

from prometheus_client import REGISTRY

from bot.observability.metrics import count_outcome
from bot.outcomes import rasa_broker
from bot.outcomes.rasa_broker import OutcomeBroker
from bot.recent_senders import REMEMBERED_SENDERS


def identified(channel: str) -> float:
    """What /metrics shows as kefu_outcomes_total{kind="customer_identified",channel=...}."""
    return REGISTRY.get_sample_value("kefu_outcomes_total", {"kind": "customer_identified", "channel": channel}) or 0.0


async def test_an_identification_is_recorded_on_the_channel_of_the_conversation(monkeypatch):
    stored = []

    async def record(sender, kind, *, channel="", customer="", **data):
        count_outcome(kind, channel)
        stored.append((sender, kind, channel, customer))

    monkeypatch.setattr(rasa_broker, "record", record)
    broker = OutcomeBroker()
    before = {c: identified(c) for c in ("webchat", "ivr", "unknown")}
    # A web-chat turn, then the identity action's slot in the same turn (Rasa publishes them in order).
    broker.publish({"sender_id": "w1", "event": "session_started"})
    broker.publish({"sender_id": "w1", "event": "user", "input_channel": "webchat", "text": "我的账单",
                    "parse_data": {"intent": {"name": "query_bill", "confidence": 0.9}}})
    broker.publish({"sender_id": "w1", "event": "slot", "name": "customer_id", "value": 1})
    # A phone call identified by the assistant.
    broker.publish({"sender_id": "ivr:c9", "event": "user", "input_channel": "ivr", "text": "查账单"})
    broker.publish({"sender_id": "ivr:c9", "event": "slot", "name": "customer_id", "value": 2})
    await broker.close()
    assert [(s, c) for s, k, c, _ in stored if k == "customer_identified"] == [("w1", "webchat"), ("ivr:c9", "ivr")]
    assert identified("webchat") - before["webchat"] == 1 and identified("ivr") - before["ivr"] == 1
    assert identified("unknown") == before["unknown"]


def test_sessions_started_without_a_turn_are_not_remembered_for_ever():
    """A session Rasa starts without a customer turn (the HTTP API's ``/conversations/<id>/execute``, which
    ``kefu run`` enables, or a turn that failed) was remembered in every Rasa process until that sender's
    first message, which may never come: the set grew for as long as the process ran. Only live
    conversations need remembering (a session's first message comes in the same burst), so it is bounded
    like the senders' channels."""
    broker = OutcomeBroker()
    for n in range(REMEMBERED_SENDERS + 500):
        broker.publish({"sender_id": f"api-{n}", "event": "session_started"})
    assert len(broker._new_sessions) == REMEMBERED_SENDERS
    assert f"api-{REMEMBERED_SENDERS + 499}" in broker._new_sessions  # the newest are kept
    assert "api-0" not in broker._new_sessions
