"""Reading and writing Rasa conversations from inside the Rasa server, where the desk runs.

Everything goes through Rasa's own agent (tracker store, lock store, response generator and
the registered input channels), the same way Rasa's HTTP API handlers do: events are appended
under the conversation lock and bot messages are delivered on the customer's channel — the
latest input channel of the tracker, or for a call the flow sent straight to the queue (no
message to the assistant yet) the phone, known from its ``ivr:`` id. Each channel's output
reaches the customer from any process: the web chat's Socket.IO room, WeChat's
customer-service API, the phone line through Redis pub/sub (``bot.ivr.line``), REST clients
through the outbox (``bot.handoff.rest_delivery``).
"""
from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable

from rasa.core.actions.action import create_bot_utterance
from rasa.core.channels.channel import CollectingOutputChannel, OutputChannel
from rasa.shared.core.events import (ActionExecuted, BotUttered, ConversationPaused, ConversationResumed, Event, SlotSet,
                                     UserUttered)
from rasa.shared.core.trackers import DialogueStateTracker
from sanic import Sanic

from bot.handoff import desk_proof
from bot.security.claims import SESSION_PROOF_SLOTS

logger = logging.getLogger(__name__)

# The bot message's metadata key holding its ``once`` mark (RasaConversations.utter).
ONCE_KEY = "said_once"

# Slots cleared when the agent hands the conversation back to the bot.
HANDBACK_SLOTS = {"handoff_requested": None, "awaiting": None, "selfhelp_failures": 0.0, "triage_asked": None}


def merge_rich_parts(message: dict[str, Any], values: dict[str, Any]) -> None:
    """Buttons, attachment and other parts given with a response join the message, the way Rasa
    merges an action's response (rasa.core.actions.action.RemoteAction): self-help sent from the
    desk or the waiting room arrives with its video and link, as the assistant would send it."""
    buttons = values.get("buttons") or []
    if buttons:
        message["buttons"] = list(message.get("buttons") or []) + list(buttons)
    for key in ("attachment", "image", "custom", "elements", "quick_replies"):
        if values.get(key):
            message[key] = values[key]


class RasaConversations:
    def __init__(self, app: Sanic) -> None:
        self.app = app

    @property
    def agent(self):
        return self.app.ctx.agent

    def output_channel(self, tracker: DialogueStateTracker) -> OutputChannel:
        name = tracker.get_latest_input_channel() or channel_of_id(tracker.sender_id)
        for channel in getattr(self.app.ctx, "input_channels", None) or []:
            if channel.name() == name:
                output = channel.get_output_channel()
                if output is not None:
                    return output
        if name == "rest":
            from bot.handoff.rest_delivery import OutboxOutput

            return OutboxOutput()
        return CollectingOutputChannel()

    async def events(self, conversation_id: str) -> list[dict]:
        tracker = await self.agent.tracker_store.retrieve(conversation_id)
        return [event.as_dict() for event in tracker.events] if tracker else []

    async def said_after(self, conversation_id: str, after: float) -> list[BotUttered | UserUttered]:
        """What the customer, the assistant and agents said after ``after`` (an event timestamp), in order:
        a web-chat page reopened later is sent what was said while it was closed, both sides of it."""
        tracker = await self.agent.tracker_store.retrieve(conversation_id)
        return [event for event in (tracker.events if tracker else [])
                if isinstance(event, (BotUttered, UserUttered)) and event.timestamp > after]

    async def stored_count(self, conversation_id: str) -> int | None:
        """How many events the conversation has stored, or None if the tracker store cannot say cheaply."""
        store = self.agent.tracker_store
        while not hasattr(store, "event_count") and hasattr(store, "_tracker_store"):
            store = store._tracker_store  # Rasa wraps the configured store (fail-safe, awaitable)
        count = getattr(store, "event_count", None)
        return await count(conversation_id) if count is not None else None

    async def is_paused(self, conversation_id: str) -> bool:
        tracker = await self.agent.tracker_store.retrieve(conversation_id)
        return bool(tracker and tracker.is_paused())

    async def utter(self, conversation_id: str, response: str, *, once: str | None = None,
                    still_owed: Callable[[], Awaitable[bool]] | None = None, **values: Any) -> OutputChannel | None:
        """Say a domain response into the conversation (paused or not) and deliver it. Returns the
        output channel it went through: one that can tell (WeChat's) lists ``undelivered`` reasons.
        ``once``: a mark of what is said (an agent's claim, a close); said only if nothing was said under
        it before, so the waiting room finishing a step that was cut off says nothing twice. ``still_owed``:
        only while this says so, asked under the conversation's lock (None otherwise), so words an agent's
        claim makes out of date never come after its "an agent joined" (:meth:`join`, under the same lock)."""
        return await self._append(conversation_id, [], response, values, once=once, still_owed=still_owed)

    async def join(self, conversation_id: str, response: str, *, once: str,
                   still_owed: Callable[[], Awaitable[bool]] | None = None, **values: Any) -> bool:
        """An agent has the conversation: the bot paused (if it is not yet) and ``response`` said, once under
        ``once`` (:meth:`utter`); only while ``still_owed``, asked under the conversation's lock, says so (the
        claim it finishes still holds). True when it went through (whether or not the words had been said).
        A proof open as the words are said ends (``desk_proof.withdrawn``) unless it was asked
        under ``once``, by this claim's agent (``desk_proof.asked_under``): an earlier agent's (a transfer cut off
        before it ended it) is over; the agent's own, asked before a retry or the waiting room said the words, stays."""
        return await self._append(conversation_id, [], response, values, pause=True, once=once,
                                  still_owed=still_owed, ends_earlier_proof=True) is not None

    async def resume(self, conversation_id: str, response: str, *, if_paused: bool = False,
                     still_owed: Callable[[], Awaitable[bool]] | None = None,
                     before: tuple[str, dict, str] | None = None, once: str | None = None, **values: Any) -> bool:
        """Hand the conversation back to the bot, which greets the customer with ``response``.

        Ends with ``action_listen`` as a normal bot turn does: while paused Rasa logs the
        customer's messages without listening, and the rules only match after a listen.
        ``if_paused``: only a conversation still paused (a hand-back owed, ``bot.handoff.handback``:
        one already done says nothing twice); ``still_owed``: and only while this says so, asked under
        the conversation's lock (a turn that paused it for a new handoff has ended by then). ``before``: a
        response, its values and its ``once`` mark (:meth:`utter`), said first unless said already under
        that mark (a close's ticket number). ``once``: ``response``'s own mark, said unless said under it already
        (an agent's close, handed back by its retry or the waiting room as well). True when it was handed back.
        """
        events: list[Event] = [ConversationResumed()] + [SlotSet(k, v) for k, v in HANDBACK_SLOTS.items()]
        output = await self._append(conversation_id, events, response, values, listen=True, ends_proof=True,
                                    if_paused=if_paused, still_owed=still_owed, before=before, once=once)
        hand_back = getattr(output, "hand_back", None)
        if hand_back is not None:  # a live session (a phone call) goes back to the assistant
            await hand_back(conversation_id)
        return output is not None

    async def hand_over(self, conversation_id: str, response: str, *, once: str | None = None,
                        still_owed: Callable[[], Awaitable[bool]] | None = None, **values: Any) -> OutputChannel | None:
        """Say ``response`` as the conversation goes to another agent group: it stays paused, but a
        proof the agent asked for ends with them (``desk_proof.withdrawn``). ``once`` as for :meth:`utter`;
        only while ``still_owed``, asked under the conversation's lock, says so (None otherwise)."""
        return await self._append(conversation_id, [], response, values, ends_proof=True, once=once,
                                  still_owed=still_owed)

    async def ask_once(self, conversation_id: str, response: str, slot: str) -> bool:
        """Say ``response`` and set the bool ``slot``, unless ``slot`` is set already (a question
        asked at most once per conversation, such as the satisfaction score); then listen for the
        answer. True when it was said."""
        output = await self._append(conversation_id, [], response, {}, listen=True, unless_slot=slot)
        return output is not None

    async def pause(self, conversation_id: str) -> None:
        """Stop the bot answering (a flow sent the caller to the queue without asking the bot)."""
        async with self.agent.lock_store.lock(conversation_id):
            # With its session started, so the caller's first words do not start one (and unpause).
            tracker = await self.agent.processor.fetch_tracker_with_initial_session(conversation_id)
            if not tracker.is_paused():
                tracker.update(ConversationPaused(), self.agent.domain)
                await self.agent.processor.save_tracker(tracker)

    async def unpause(self, conversation_id: str, still_owed: Callable[[], Awaitable[bool]] | None = None) -> bool:
        """Give the conversation back to the bot without a word (the customer has gone). True when it was
        paused (and ``still_owed``, asked under the lock as for :meth:`resume`, said so)."""
        found = await self.agent.tracker_store.retrieve(conversation_id)
        if found is None or not found.is_paused():
            return False  # most calls never reach a person: no lock, no write
        async with self.agent.lock_store.lock(conversation_id):
            tracker = await self.agent.tracker_store.retrieve(conversation_id)
            if tracker is None or not tracker.is_paused() or (still_owed is not None and not await still_owed()):
                return False
            for event in [ConversationResumed(), *(SlotSet(k, v) for k, v in HANDBACK_SLOTS.items()),
                          *desk_proof.withdrawn(tracker), ActionExecuted("action_listen")]:
                tracker.update(event, self.agent.domain)
            await self.agent.processor.save_tracker(tracker)
        return True

    async def withdraw_proof(self, conversation_id: str) -> None:
        """The proof the customer gave in this conversation no longer holds for its session (a WeChat
        follower unsubscribed: following again must mean proving again, at once). Under the conversation's
        lock even when no proof is kept yet: a turn under way may be keeping one (found in review)."""
        async with self.agent.lock_store.lock(conversation_id):
            tracker = await self.agent.tracker_store.retrieve(conversation_id)
            if tracker is None or not tracker.get_slot(SESSION_PROOF_SLOTS[0]):
                return
            for slot in SESSION_PROOF_SLOTS:
                tracker.update(SlotSet(slot, None), self.agent.domain)
            await self.agent.processor.save_tracker(tracker)

    async def resume_with_intent(self, conversation_id: str, intent: str) -> None:
        """Unpause and let the bot handle ``intent`` as if the customer had said it."""
        async with self.agent.lock_store.lock(conversation_id):
            processor = self.agent.processor
            tracker = await processor.fetch_tracker_with_initial_session(conversation_id)
            resumed = [ConversationResumed(), *(SlotSet(k, v) for k, v in HANDBACK_SLOTS.items()),
                       *desk_proof.withdrawn(tracker), ActionExecuted("action_listen")]
            for event in resumed:
                tracker.update(event, self.agent.domain)
            await processor.save_tracker(tracker)
            output = self.output_channel(tracker)
            await self.agent.trigger_intent(intent, [], output, tracker)
        hand_back = getattr(output, "hand_back", None)
        if hand_back is not None:
            await hand_back(conversation_id)

    async def _append(self, conversation_id: str, events: list[Event], response: str | None,
                      values: dict[str, Any], listen: bool = False,
                      unless_slot: str | None = None, ends_proof: bool = False,
                      if_paused: bool = False,
                      still_owed: Callable[[], Awaitable[bool]] | None = None,
                      pause: bool = False, once: str | None = None,
                      before: tuple[str, dict, str] | None = None,
                      ends_earlier_proof: bool = False) -> OutputChannel | None:
        async with self.agent.lock_store.lock(conversation_id):
            processor = self.agent.processor
            # Paused with its session started, as pause() does: the caller's first words do not start one.
            tracker = await (processor.fetch_tracker_with_initial_session if pause else
                             processor.get_tracker)(conversation_id)
            if if_paused and not tracker.is_paused():
                return None
            if still_owed is not None and not await still_owed():
                return None
            if unless_slot is not None:
                if tracker.get_slot(unless_slot):
                    return None
                events = [*events, SlotSet(unless_slot, True)]
            if pause and not tracker.is_paused():
                events = [ConversationPaused(), *events]
            if ends_proof or (ends_earlier_proof and desk_proof.asked_under(tracker) != once):
                events = [*events, *desk_proof.withdrawn(tracker)]
            for event in events:
                tracker.update(event, self.agent.domain)
            output = self.output_channel(tracker)
            said: list[Event] = []
            for response, values, once in [*([before] if before else []), (response, values, once)]:
                if not response or (once is not None and said_under(tracker, once)):
                    continue
                message = await processor.nlg.generate(response, tracker, output.name(), **values)
                if message:
                    merge_rich_parts(message, values)
                    tracker.update(ActionExecuted(response), self.agent.domain)
                    bot = create_bot_utterance(message)
                    bot.metadata = {**(bot.metadata or {}), "utter_action": response,
                                    **({ONCE_KEY: once} if once is not None else {})}
                    if values.get("agent_text") is not None:  # an agent's words (bot.handoff.desk_view.agent_said)
                        bot.metadata["agent"] = {"name": str(values.get("agent_name") or ""),
                                                 "text": str(values["agent_text"])}
                    tracker.update(bot, self.agent.domain)
                    said.append(bot)
            if listen:
                tracker.update(ActionExecuted("action_listen"), self.agent.domain)
            await processor.save_tracker(tracker)
            await processor.execute_side_effects(said, tracker, output)
        return output


def said_under(tracker: DialogueStateTracker, once: str) -> bool:
    """Whether the conversation was told something under the mark ``once`` (``RasaConversations.utter``)."""
    return any(isinstance(event, BotUttered) and (event.metadata or {}).get(ONCE_KEY) == once
               for event in tracker.events)


def channel_of_id(conversation_id: str) -> str | None:
    """The channel a conversation id itself names (only the phone's ``ivr:<call id>`` does)."""
    return "ivr" if conversation_id.startswith("ivr:") else None
