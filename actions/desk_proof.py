"""The bot's proof step, asked for by an agent at the desk (``bot.handoff.desk_proof``).

An agent cannot check a service password or an SMS code, and must never read one. So the desk
runs this action in the conversation the agent holds: it asks the customer for proof exactly as a
request that needs it would (the number first if nobody is known, then the one-time code or the
service password), and names itself as the pending request, so ``action_identify_customer``'s
check (``actions.identity.check_proof``) comes back here once the customer has proven it. Then the
customer hears the usual "已核实您的身份", and the handoff packet names the proven customer.
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from redis.exceptions import RedisError

from actions.identity import IdentifiedAction
from bot.db.repository import Customer

logger = logging.getLogger(__name__)

DESK_PROOF = "action_desk_proof"


class ActionDeskProof(IdentifiedAction):
    request = "desk_proof"  # not listed in content/verification.yml: needs ``verified``

    def name(self) -> str:
        return DESK_PROOF

    async def serve(self, dispatcher: CollectingDispatcher, tracker: Tracker, customer: Customer,
                    verified: bool) -> list[dict[str, Any]]:
        from bot.handoff.queue import queue_from_settings

        dispatcher.utter_message(response="utter_identified", customer_name=customer.name)
        try:
            await queue_from_settings().proven(tracker.sender_id, dataclasses.asdict(customer))
        except (RedisError, OSError):
            logger.warning("handoff.desk_proof.packet_not_updated conversation=%s", tracker.sender_id)
        return []
