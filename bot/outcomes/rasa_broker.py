"""Rasa event broker that turns tracker events into outcome events, for every channel at once.

Configured in ``endpoints.yml`` (``event_broker: type: bot.outcomes.rasa_broker.OutcomeBroker``).
Rasa publishes each new tracker event after a turn; this broker records the start of each
session (the channel taken from the session's first message), every intent seen, and the
customer once the identity action fills ``customer_id`` (on the channel of the sender's turns: the
slot event itself carries none, and found by a tester, ``kefu_outcomes_total`` counted every
identification under ``channel="unknown"``); a yes/no to self-help an agent pushed is
handed to ``bot.handoff.agent_selfhelp`` (the bot is paused then, so no action sees it). Phone
calls start their contact in the IVR engine, which knows the caller, so their sessions are not
counted twice here.
"""
from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from typing import Any, Optional

from rasa.core.brokers.broker import EventBroker
from rasa.utils.endpoints import EndpointConfig

from bot.handoff import agent_selfhelp
from bot.outcomes.events import customer_key
from bot.outcomes.recorder import record
from bot.recent_senders import remember

logger = logging.getLogger(__name__)

PHONE_PREFIX = "ivr:"


class OutcomeBroker(EventBroker):
    def __init__(self) -> None:
        self._new_sessions: OrderedDict[str, None] = OrderedDict()  # started, first message not yet seen (one burst)
        self._writing: set[asyncio.Task] = set()
        self._channels: OrderedDict[str, str] = OrderedDict()  # sender -> input channel of its last turn

    @classmethod
    async def from_endpoint_config(cls, broker_config: EndpointConfig,
                                   event_loop: Optional[asyncio.AbstractEventLoop] = None) -> "OutcomeBroker":
        return cls()

    def publish(self, event: dict[str, Any]) -> None:
        sender = event.get("sender_id") or ""
        kind = event.get("event")
        if kind == "session_started" and not sender.startswith(PHONE_PREFIX):
            remember(self._new_sessions, sender, None)
        elif kind == "user":
            self._user_turn(sender, event)
        elif kind == "slot" and event.get("name") == "customer_id" and event.get("value"):
            self._write(sender, "customer_identified", self._channel_of(sender),
                        customer_key(customer_id=event["value"]))

    def _channel_of(self, sender: str) -> str:
        """The channel of the sender's last turn seen here; a phone call's is the phone's."""
        return self._channels.get(sender) or ("ivr" if sender.startswith(PHONE_PREFIX) else "")

    def _user_turn(self, sender: str, event: dict) -> None:
        channel = event.get("input_channel") or ""
        if channel:
            remember(self._channels, sender, channel)
        if sender in self._new_sessions:
            del self._new_sessions[sender]
            openid = sender if channel == "wechat" else None
            self._write(sender, "contact_started", channel, customer_key(openid=openid))
        intent = (event.get("parse_data") or {}).get("intent") or {}
        if intent.get("name"):
            self._write(sender, "intent_seen", channel, "", intent=intent["name"],
                        confidence=round(float(intent.get("confidence") or 0), 3))
        if intent.get("name") in agent_selfhelp.ANSWERS:
            self._spawn(agent_selfhelp.record_answer(sender, intent["name"], channel))

    def _write(self, sender: str, kind: str, channel: str, customer: str, **data: Any) -> None:
        self._spawn(record(sender, kind, channel=channel, customer=customer, **data))

    def _spawn(self, writing) -> None:
        task = asyncio.get_running_loop().create_task(writing)
        self._writing.add(task)
        task.add_done_callback(self._writing.discard)

    async def close(self) -> None:
        if self._writing:
            await asyncio.gather(*self._writing, return_exceptions=True)
