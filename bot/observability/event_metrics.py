"""A Rasa event broker that turns the tracker's events into metrics, in whichever process runs the turn.

Rasa publishes a turn's new events when it stores the tracker, so the user event's timestamp to
that moment is the turn's latency (NLU, policies, custom actions, tracker store); the user event
carries the channel and the NLU confidence; fallbacks show up as the ``nlu_fallback`` intent or a
fallback action. Configured in ``endpoints.yml`` (``event_broker: type: bot.observability...``).
"""
from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any, Dict, Optional, Text

from rasa.core.brokers.broker import EventBroker
from rasa.utils.endpoints import EndpointConfig

from bot.observability import metrics

FALLBACK_INTENTS = {"nlu_fallback"}
FALLBACK_ACTIONS = {"action_default_fallback", "action_fallback", "action_two_stage_fallback"}
REMEMBERED_SENDERS = 10_000  # sender -> channel, only to label fallback actions; bounded


class MetricsEventBroker(EventBroker):
    """Publishes nowhere; counts. Cheap enough to run on every event."""

    def __init__(self, clock=time.time) -> None:
        self.clock = clock
        self._channels: "OrderedDict[str, str]" = OrderedDict()

    @classmethod
    async def from_endpoint_config(cls, broker_config: Optional[EndpointConfig], event_loop=None) -> "MetricsEventBroker":
        return cls()

    def publish(self, event: Dict[Text, Any]) -> None:
        kind = event.get("event")
        if kind == "user":
            self._user(event)
        elif kind == "action" and event.get("name") in FALLBACK_ACTIONS:
            metrics.FALLBACKS.labels(self._channel_of(event.get("sender_id"))).inc()

    def _user(self, event: Dict[Text, Any]) -> None:
        channel = str(event.get("input_channel") or "unknown")
        self._remember(event.get("sender_id"), channel)
        metrics.MESSAGES.labels(channel).inc()
        intent = (event.get("parse_data") or {}).get("intent") or {}
        confidence = intent.get("confidence")
        if isinstance(confidence, (int, float)):
            metrics.NLU_CONFIDENCE.labels(channel).observe(float(confidence))
        if intent.get("name") in FALLBACK_INTENTS:
            metrics.FALLBACKS.labels(channel).inc()
        sent_at = event.get("timestamp")
        if isinstance(sent_at, (int, float)):
            metrics.TURN_SECONDS.labels(channel).observe(max(0.0, self.clock() - float(sent_at)))

    def _remember(self, sender: Any, channel: str) -> None:
        if not sender:
            return
        self._channels[str(sender)] = channel
        self._channels.move_to_end(str(sender))
        while len(self._channels) > REMEMBERED_SENDERS:
            self._channels.popitem(last=False)

    def _channel_of(self, sender: Any) -> str:
        return self._channels.get(str(sender or ""), "unknown")

    def is_ready(self) -> bool:
        return True
