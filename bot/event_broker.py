"""The one event broker Rasa gets (it takes only one): each tracker event goes to the metrics and
to the outcome record, in the process that ran the turn.

Configured in ``endpoints.yml`` as ``event_broker: type: bot.event_broker.KefuEventBroker``.
"""
from __future__ import annotations

import asyncio
from typing import Any, Optional

from rasa.core.brokers.broker import EventBroker
from rasa.utils.endpoints import EndpointConfig

from bot.observability.event_metrics import MetricsEventBroker
from bot.outcomes.rasa_broker import OutcomeBroker


class KefuEventBroker(EventBroker):
    def __init__(self, *brokers: EventBroker) -> None:
        self.brokers = brokers or (MetricsEventBroker(), OutcomeBroker())

    @classmethod
    async def from_endpoint_config(cls, broker_config: Optional[EndpointConfig],
                                   event_loop: Optional[asyncio.AbstractEventLoop] = None) -> "KefuEventBroker":
        return cls()

    def publish(self, event: dict[str, Any]) -> None:
        for broker in self.brokers:
            broker.publish(event)

    def is_ready(self) -> bool:
        return all(broker.is_ready() for broker in self.brokers)

    async def close(self) -> None:
        for broker in self.brokers:
            await broker.close()
