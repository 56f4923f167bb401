"""A Rasa event broker that turns the tracker's events into metrics, in whichever process runs the turn.

Rasa publishes a turn's new events when it stores the tracker, so the user event's timestamp to
that moment is the turn's latency (NLU, policies, custom actions, tracker store); the user event
carries the channel and the NLU confidence (kept only for a message the NLU read: :func:`read_by_nlu`);
fallbacks show up as the ``nlu_fallback`` intent or a fallback action, counted once per turn (the rules
answer every ``nlu_fallback`` with ``action_fallback``).
Configured in ``endpoints.yml`` (``event_broker: type: bot.observability...``).
"""
from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Dict, Optional, Text

from rasa.core.brokers.broker import EventBroker
from rasa.shared.constants import DEFAULT_NLU_FALLBACK_INTENT_NAME
from rasa.shared.core.training_data.story_reader.yaml_story_reader import YAMLStoryReader
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.utils.endpoints import EndpointConfig

from bot.nlu.no_content import has_content
from bot.observability import metrics
from bot.recent_senders import remember

FALLBACK_INTENTS = {"nlu_fallback"}
FALLBACK_ACTIONS = {"action_default_fallback", "action_fallback", "action_two_stage_fallback"}


@dataclass
class Turn:
    """A conversation's latest message: its channel, and whether it was counted as a fallback yet."""

    channel: str
    fallback_counted: bool = False


def read_by_nlu(text: Any, intent: dict) -> bool:
    """Whether ``intent``, given a message with this text, is the NLU's reading of it. Not for a message with
    no text, or none to read (an attachment, a WeChat event, emoji only, an IVR turn nothing was heard in:
    the channel's own parse data), nor for one the NLU found nothing in (Latin gibberish: ``nlu_fallback``
    at 1.0 from NoContentClassifier, where the FallbackClassifier's is at its threshold), nor for an intent
    payload (a button or a WeChat menu click, ``/fault_tv``: Rasa's RegexMessageHandler gives it at 1.0).
    Text shaped like a payload whose name is no intent (``/help``) is read by the NLU, and counted."""
    if not isinstance(text, str) or not has_content(text):
        return False
    if intent.get("name") == DEFAULT_NLU_FALLBACK_INTENT_NAME and intent.get("confidence") == 1.0:
        return False
    payload = YAMLStoryReader.unpack_regex_message(Message({TEXT: text})).get(INTENT) or {}
    return not payload or payload.get("name") != intent.get("name")


class MetricsEventBroker(EventBroker):
    """Publishes nowhere; counts. Cheap enough to run on every event."""

    def __init__(self, clock=time.time) -> None:
        self.clock = clock
        self._turns: "OrderedDict[str, Turn]" = OrderedDict()

    @classmethod
    async def from_endpoint_config(cls, broker_config: Optional[EndpointConfig], event_loop=None) -> "MetricsEventBroker":
        return cls()

    def publish(self, event: Dict[Text, Any]) -> None:
        kind = event.get("event")
        if kind == "user":
            self._user(event)
        elif kind == "action" and event.get("name") in FALLBACK_ACTIONS:
            turn = self._turns.get(str(event.get("sender_id") or ""))
            if turn is None:
                metrics.FALLBACKS.labels("unknown").inc()
            elif not turn.fallback_counted:
                turn.fallback_counted = True
                metrics.FALLBACKS.labels(turn.channel).inc()

    def _user(self, event: Dict[Text, Any]) -> None:
        channel = str(event.get("input_channel") or "unknown")
        intent = (event.get("parse_data") or {}).get("intent") or {}
        not_understood = intent.get("name") in FALLBACK_INTENTS
        self._remember(event.get("sender_id"), Turn(channel, fallback_counted=not_understood))
        metrics.MESSAGES.labels(channel).inc()
        confidence = intent.get("confidence")
        if isinstance(confidence, (int, float)) and read_by_nlu(event.get("text"), intent):
            metrics.NLU_CONFIDENCE.labels(channel).observe(float(confidence))
        if not_understood:
            metrics.FALLBACKS.labels(channel).inc()
        sent_at = event.get("timestamp")
        if isinstance(sent_at, (int, float)):
            metrics.TURN_SECONDS.labels(channel).observe(max(0.0, self.clock() - float(sent_at)))

    def _remember(self, sender: Any, turn: "Turn") -> None:
        if sender:
            remember(self._turns, str(sender), turn)  # sender -> its last turn, only to count fallback actions

    def is_ready(self) -> bool:
        return True
