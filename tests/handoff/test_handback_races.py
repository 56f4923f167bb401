"""The hand-back the waiting room finishes (``bot.handoff.handback``) against a customer who asks for a
person again at that very moment.

Real ``RasaConversations`` over the Redis tracker store (the stand-in processor of test_desk_proof_ends),
real queue. The interleaving is made, not waited for: the customer's new request is a Rasa turn, which
holds the conversation's lock while it queues them and pauses the bot; here it runs just as the waiting
room asks for that lock, after the waiting room read the record as ended.

Found in a second look at the hand-backs owed: the waiting room read the ended record, then waited for the
turn that queued the customer again; it found the conversation paused (by the new request, not the old
handoff), handed it back and repeated the cancel message. The customer, waiting in line again, was told
their wait was cancelled a second time and answered by the bot beside the waiting room.
"""
from __future__ import annotations

from contextlib import asynccontextmanager

from rasa.shared.core.events import ActionExecuted, ConversationPaused, SlotSet, UserUttered

from bot.handoff import keys
from bot.handoff.handback import HANDBACK_GRACE_S
from bot.handoff.queue import HandoffRequest
from bot.handoff.watcher import WaitingRoom
from tests.handoff.test_desk_close_faults import waiting_for_a_person
from tests.handoff.test_desk_proof_ends import conversations, domain  # noqa: F401 - fixtures

CANCELLED = "好的，已为您取消排队"


def a_turn_holds_the_lock_when_asked(conversations, conversation_id: str, turn) -> None:  # noqa: F811
    """The next time anyone asks for the conversation's lock, a customer's turn (``turn``) holds it and
    runs to its end first, as a Rasa turn under way would."""
    store = conversations.agent.lock_store
    real = store.lock
    armed = [True]

    @asynccontextmanager
    async def lock(conversation, *args, **kwargs):
        if conversation == conversation_id and armed:
            armed.clear()
            async with real(conversation, *args, **kwargs):
                await turn()
        async with real(conversation, *args, **kwargs) as held:
            yield held

    store.lock = lock


async def customer_says(conversations, conversation_id: str, text: str) -> None:  # noqa: F811
    agent = conversations.agent
    tracker = await agent.tracker_store.retrieve(conversation_id)
    tracker.update(UserUttered(text), agent.domain)
    await agent.tracker_store.save(tracker)


async def test_a_customer_queued_again_as_the_waiting_room_looks_is_not_handed_back(queue, clock, kefu_env,
                                                                                 conversations):  # noqa: F811
    conversation_id = "handback-race-webchat-1"
    request = HandoffRequest(conversation_id, "webchat", "billing", 1, None, {})
    await waiting_for_a_person(conversations, conversation_id)
    await queue.enqueue(request)
    room = WaitingRoom(queue, conversations)
    await room.tick()  # the first visit
    await customer_says(conversations, conversation_id, "#handoff:cancel")
    await room.tick()  # 取消排队: out of the queue, the assistant has the conversation back, told so
    tracker = await conversations.agent.tracker_store.retrieve(conversation_id)
    assert not tracker.is_paused()
    assert await queue.redis.zscore(keys.handbacks(), conversation_id) is not None, "noted, as every end is"

    async def asks_for_a_person_again() -> None:
        """action_request_human's turn: queued, then the bot paused (Rasa saves the action's events)."""
        await queue.enqueue(request)
        agent = conversations.agent
        tracker = await agent.tracker_store.retrieve(conversation_id)
        for event in (UserUttered("还是转人工吧"), ActionExecuted("action_request_human"),
                      SlotSet("handoff_requested", True), ConversationPaused(), ActionExecuted("action_listen")):
            tracker.update(event, agent.domain)
        await agent.tracker_store.save(tracker)

    clock.advance(HANDBACK_GRACE_S + queue.rules.watch_interval_s)
    a_turn_holds_the_lock_when_asked(conversations, conversation_id, asks_for_a_person_again)
    await room.tick()

    entry = await queue.entry(conversation_id)
    assert entry["state"] == "waiting", "in line again"
    tracker = await conversations.agent.tracker_store.retrieve(conversation_id)
    said = [e.text for e in tracker.events if e.type_name == "bot"]
    assert sum(text.startswith(CANCELLED) for text in said) == 1, f"told the wait was cancelled once: {said}"
    assert tracker.is_paused(), "waiting for a person: the bot must not answer beside the waiting room"
