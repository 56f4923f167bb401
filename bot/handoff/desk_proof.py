"""请客户验证身份: an agent has the bot check who the customer is, without ever reading the proof.

The desk cannot verify a customer, and an agent who asks for the service password reads it (found
by a tester: it was shown on WeChat and stored in clear). So the desk runs the bot's own proof step
(``actions.desk_proof``) in the conversation the agent holds: the customer gets the usual prompt on
their channel (the web chat's masked numeric input, as for the bot's prompts), and while that proof
is open the customer's answer — a 6-digit code or password, or the phone/account number it first
needs — is checked by the bot's ``action_identify_customer``, even though the conversation is
paused for the agent. Anything else the customer says goes to the agent as before.

The answer is stored blanked (``bot.security.secret_answers``) and so reaches the agent's transcript
as ``******``; the agent reads the outcome from the bot's reply, marked on the desk (``outcome``).
"""
from __future__ import annotations

import functools
import logging
from typing import Any

from bot.handoff.masking import AWAITING_PROOF, PROOF

logger = logging.getLogger(__name__)

DESK_PROOF = "action_desk_proof"  # actions/desk_proof.py; the pending request while the proof is open
CHECK = "action_identify_customer"
# The metadata key of the proof's event naming the claim its agent asked under (:func:`asked_under`).
ASKED_UNDER = "desk_proof_asked_under"
NUMBERS = ("phone_number", "account_number")
# The bot's replies that end a proof, as the desk marks them for the agent.
PASSED = frozenset({"utter_identified"})
FAILED = frozenset({"utter_verification_wrong", "utter_verification_locked", "utter_verification_password_paused",
                    "utter_verification_paused", "utter_verification_expired", "utter_verification_unavailable"})


def outcome(utter_action: str | None) -> str | None:
    """``passed`` / ``failed`` for a bot reply that tells how a proof went, else None."""
    if utter_action in PASSED:
        return "passed"
    return "failed" if utter_action in FAILED else None


def state(slots: dict) -> str:
    """Where the proof stands after the desk asked: ``verified``, ``asked`` (code or password
    prompt sent), ``asked_number`` (the number it needs first) or ``unavailable`` (no check today)."""
    if slots.get("awaiting") == AWAITING_PROOF:
        return "asked"
    if slots.get("awaiting") == "identity":
        return "asked_number"
    return "verified" if slots.get("verified_customer_id") else "unavailable"


def answers_desk_proof(tracker: Any) -> bool:
    """Whether this paused turn answers a proof the desk asked for (so the bot checks it)."""
    if not tracker.is_paused() or tracker.get_slot("pending_request") != DESK_PROOF:
        return False
    message = tracker.latest_message
    if message is None:
        return False
    awaiting = tracker.get_slot("awaiting")
    if awaiting == AWAITING_PROOF:
        return bool(PROOF.search(message.text or ""))
    if awaiting == "identity":
        return any(entity.get("entity") in NUMBERS for entity in message.entities or [])
    return False


def asked_under(tracker: Any) -> str | None:
    """The claim (``bot.handoff.joined.join_mark``) whose agent asked for the desk proof open now, as :func:`ask`
    noted it on the proof's event; None when none is open or it was not noted."""
    from rasa.shared.core.events import SlotSet

    for event in reversed(tracker.events):
        if isinstance(event, SlotSet) and event.key == "pending_request":
            if event.value != DESK_PROOF:
                return None
            if ASKED_UNDER in (event.metadata or {}):
                return event.metadata[ASKED_UNDER]
    return None


def withdrawn(tracker: Any) -> list:
    """The events that end a proof the desk asked for, if one is open.

    Once the agent closes or transfers the conversation, or the customer leaves, nobody waits for
    the answer: the customer's next six digits must not be checked (or blanked) as a password, nor
    their next phone number restart the desk's proof.
    """
    from rasa.shared.core.events import SlotSet

    if tracker.get_slot("pending_request") != DESK_PROOF:
        return []
    return [SlotSet("pending_request", None), SlotSet("awaiting", None)]


async def ask(conversations: Any, conversation_id: str, asked_under: str = "") -> str:
    """Run the bot's proof step in a conversation the agent holds; returns :func:`state`. ``asked_under``: the
    agent's claim (``join_mark``), noted on the proof's event: the words "an agent joined" said late for that claim
    (the waiting room's, a claim cut off) leave it open, and end any other agent's (found in review)."""
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.core.events import SlotSet

    agent = conversations.agent
    async with agent.lock_store.lock(conversation_id):
        processor = agent.processor
        tracker = await processor.get_tracker(conversation_id)
        output = conversations.output_channel(tracker)
        # Not through the policies' action log: the action is the desk's, not in the domain.
        events = await RemoteAction(DESK_PROOF, processor.action_endpoint).run(output, processor.nlg, tracker,
                                                                              agent.domain)
        for event in events:
            if asked_under and isinstance(event, SlotSet) and (event.key, event.value) == ("pending_request",
                                                                                           DESK_PROOF):
                event.metadata = {**(event.metadata or {}), ASKED_UNDER: asked_under}
        tracker.update_with_events(events, agent.domain)
        await processor.save_tracker(tracker)
        await processor.execute_side_effects(events, tracker, output)
    return state(tracker.current_slot_values())


def _checking_desk_proofs(original):
    @functools.wraps(original)
    async def run_prediction_loop(self, output_channel, tracker) -> None:
        if answers_desk_proof(tracker):
            from rasa.core.actions.action import action_for_name_or_text
            from rasa.core.policies.policy import PolicyPrediction

            action = action_for_name_or_text(CHECK, self.domain, self.action_endpoint)
            await self._run_action(action, tracker, output_channel, self.nlg,
                                   PolicyPrediction.for_action_name(self.domain, CHECK))
            logger.info("handoff.desk_proof.checked conversation=%s", tracker.sender_id)
            return
        await original(self, output_channel, tracker)

    run_prediction_loop._kefu_desk_proof = True
    return run_prediction_loop


def install() -> None:
    """Idempotent: wrap Rasa's prediction loop once per process (a paused turn otherwise predicts nothing)."""
    from rasa.core.processor import MessageProcessor

    if not getattr(MessageProcessor._run_prediction_loop, "_kefu_desk_proof", False):
        MessageProcessor._run_prediction_loop = _checking_desk_proofs(MessageProcessor._run_prediction_loop)
