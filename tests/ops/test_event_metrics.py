"""Metrics from Rasa's events: a turn's latency, NLU confidence and fallbacks per channel."""
from __future__ import annotations

from prometheus_client import REGISTRY

from bot.observability.event_metrics import MetricsEventBroker
from bot.observability.metrics import count_outcome


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def user_event(sender: str, channel: str, intent: str, confidence: float, sent_at: float) -> dict:
    return {"sender_id": sender, "event": "user", "timestamp": sent_at, "text": "x", "input_channel": channel,
            "parse_data": {"intent": {"name": intent, "confidence": confidence}}}


def test_a_turn_is_timed_and_its_confidence_kept_per_channel():
    broker = MetricsEventBroker(clock=lambda: 1000.8)
    turns, fallbacks = sample("kefu_turn_seconds_count", channel="fuzzchan"), sample("kefu_fallbacks_total",
                                                                                     channel="fuzzchan")
    low = sample("kefu_nlu_confidence_bucket", channel="fuzzchan", le="0.5")
    broker.publish(user_event("s1", "fuzzchan", "query_bill", 0.42, 1000.0))
    assert sample("kefu_turn_seconds_count", channel="fuzzchan") == turns + 1
    assert sample("kefu_turn_seconds_bucket", channel="fuzzchan", le="1.0") >= 1
    assert sample("kefu_nlu_confidence_bucket", channel="fuzzchan", le="0.5") == low + 1
    assert sample("kefu_fallbacks_total", channel="fuzzchan") == fallbacks


def test_fallbacks_are_counted_from_intent_and_from_the_fallback_action():
    broker = MetricsEventBroker(clock=lambda: 10.0)
    before = sample("kefu_fallbacks_total", channel="fbchan")
    broker.publish(user_event("s2", "fbchan", "nlu_fallback", 0.1, 9.0))
    broker.publish({"sender_id": "s2", "event": "action", "name": "action_fallback"})
    assert sample("kefu_fallbacks_total", channel="fbchan") == before + 2


def test_containment_counts_come_from_outcome_events():
    queued = sample("kefu_handoffs_total", channel="octest")
    count_outcome("handoff_queued", "octest")
    count_outcome("selfhelp_resolved", "octest")
    assert sample("kefu_handoffs_total", channel="octest") == queued + 1
    assert sample("kefu_outcomes_total", kind="selfhelp_resolved", channel="octest") >= 1
