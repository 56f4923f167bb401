"""A proof the desk asked for (请客户验证身份) ends with the handoff: closed, transferred, or left.

Found in review: the pending request stayed behind, so after a transfer the customer's next six
digits (an order number typed to the next group) were still checked by the bot as the password and
blanked, and after a close the customer's next phone number restarted the old desk's proof.

Real ``RasaConversations`` on the project's domain and the Redis tracker store (embedded Redis); only
Rasa's message processor is stood in for (it needs a trained model), by the tracker store itself.
"""
from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from rasa.core.lock_store import InMemoryLockStore
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, ConversationPaused, SlotSet, UserUttered

from bot.handoff import desk_proof
from bot.handoff.conversations import RasaConversations
from bot.handoff.departures import requeue, requeue_gone_agents, requeue_held
from bot.handoff.joined import told
from bot.handoff.queue import HandoffRequest
from bot.handoff.watcher import WaitingRoom
from bot.settings import redis_parts
from bot.tracker_store import IncrementalRedisTrackerStore
from tests.conftest import PROJECT_ROOT
from tests.handoff.test_desk_opt_out import served


class Processor:
    """What ``RasaConversations`` uses of Rasa's ``MessageProcessor``, over a real tracker store."""

    def __init__(self, store, domain: Domain) -> None:
        self.store = store
        self.nlg = TemplatedNaturalLanguageGenerator(domain.responses)

    async def get_tracker(self, conversation_id: str):
        return await self.store.get_or_create_tracker(conversation_id)

    fetch_tracker_with_initial_session = get_tracker

    async def save_tracker(self, tracker) -> None:
        await self.store.save(tracker)

    async def execute_side_effects(self, events, tracker, output) -> None:
        return None


@pytest.fixture(scope="module")
def domain():
    return Domain.load(str(PROJECT_ROOT / "domain"))


@pytest.fixture
def conversations(redis, redis_url, domain):
    parts = redis_parts(redis_url)
    store = IncrementalRedisTrackerStore(domain, host=parts["host"], port=parts["port"], db=parts["db"])
    agent = SimpleNamespace(tracker_store=store, lock_store=InMemoryLockStore(), domain=domain,
                            processor=Processor(store, domain))
    return RasaConversations(SimpleNamespace(ctx=SimpleNamespace(agent=agent)))


async def proof_pending(conversations: RasaConversations, conversation_id: str) -> None:
    """Served by an agent who pressed 请客户验证身份: the bot asked for the code or password."""
    agent = conversations.agent
    tracker = await agent.tracker_store.get_or_create_tracker(conversation_id)
    for event in (UserUttered("转人工"), ActionExecuted("action_listen"), ConversationPaused(),
                  SlotSet("pending_request", desk_proof.DESK_PROOF), SlotSet("awaiting", "verification_code")):
        tracker.update(event, agent.domain)
    await agent.tracker_store.save(tracker)


async def customer_says(conversations: RasaConversations, conversation_id: str, text: str):
    tracker = await conversations.agent.tracker_store.retrieve(conversation_id)
    tracker.update(UserUttered(text))
    return tracker


async def test_a_transferred_customers_order_number_is_not_checked_as_the_password(queue, kefu_env, conversations):
    conversation_id = "desk-proof-transfer-1"
    desk = await served(queue, kefu_env, HandoffRequest(conversation_id, "webchat", "billing", 1, None, {}))
    desk.conversations = conversations
    await proof_pending(conversations, conversation_id)
    assert desk_proof.answers_desk_proof(await customer_says(conversations, conversation_id, "202411")), \
        "while the proof is open, the answer goes to the bot's check"

    moved = await desk.close("wang", conversation_id, "transfer", skill="tv", note="电视没信号")
    assert moved["transferred_to"] == "tv"

    later = await customer_says(conversations, conversation_id, "202411")
    assert later.is_paused(), "still with the desk, waiting for the next group"
    assert not desk_proof.answers_desk_proof(later), "the next group's customer is not checked for the old proof"
    assert later.get_slot("awaiting") is None and later.get_slot("pending_request") is None


@pytest.mark.parametrize("ending", ["resume", "unpause", "resume_with_intent"])
async def test_a_closed_or_left_conversation_keeps_no_desk_proof(conversations, ending):
    """Closed by the agent (``resume``), the customer gone (``unpause``) or sent back to the bot with
    an intent: the customer's next number is not taken for the old desk's proof."""
    conversation_id = f"desk-proof-{ending}-1"
    await proof_pending(conversations, conversation_id)
    if ending == "resume":
        await conversations.resume(conversation_id, "utter_agent_handback")
    elif ending == "unpause":
        await conversations.unpause(conversation_id)
    else:
        agent = conversations.agent
        agent.trigger_intent = lambda *args, **kwargs: _nothing()
        await conversations.resume_with_intent(conversation_id, "greet")
    tracker = await conversations.agent.tracker_store.retrieve(conversation_id)
    assert not tracker.is_paused()
    assert tracker.get_slot("pending_request") is None and tracker.get_slot("awaiting") is None


async def _nothing() -> None:
    return None


async def test_a_proof_of_the_bots_own_request_survives_the_handback(conversations):
    """Only the desk's proof ends with the handoff: a request the customer made of the bot keeps its place."""
    conversation_id = "desk-proof-own-1"
    await proof_pending(conversations, conversation_id)
    tracker = await conversations.agent.tracker_store.retrieve(conversation_id)
    tracker.update(SlotSet("pending_request", "action_query_bill"), conversations.agent.domain)
    await conversations.agent.tracker_store.save(tracker)
    await conversations.resume(conversation_id, "utter_agent_handback")
    tracker = await conversations.agent.tracker_store.retrieve(conversation_id)
    assert tracker.get_slot("pending_request") == "action_query_bill"


@pytest.mark.parametrize("leaving", ["signed_out", "supervisor", "agent_gone"])
async def test_a_proof_ends_when_the_agent_who_asked_it_leaves_the_customer(queue, clock, kefu_env, conversations,
                                                                          leaving):
    """Found in review: 王芳 asked her customer for proof, then left them (signed out, a supervisor put the customer
    back in line, her desk went quiet). The customer, told their agent had left, waited for the next one with her
    proof still open: the six digits they typed (an order number for the next agent, an answer for the bot) were
    checked as her proof's code and reached the next agent as ``******``."""
    conversation_id = f"desk-proof-left-{leaving}"
    await proof_pending(conversations, conversation_id)  # asked for once the customer is with her, below
    clock.now = time.time()  # the tracker's own clock: the customer's "转人工" is before their wait
    await queue.roster.register("wang", name="王芳", skills=["billing"], capacity=2, status="available")
    await served(queue, kefu_env, HandoffRequest(conversation_id, "webchat", "billing", 1, None, {}))
    await told(queue, conversation_id)
    await queue.roster.heartbeat("wang")
    clock.advance(60)

    if leaving == "signed_out":
        assert await requeue_held(queue, "wang", "signed_out") == [conversation_id]
    elif leaving == "supervisor":
        assert await requeue(queue, conversation_id, "wang", "supervisor", by="boss")
    else:
        clock.advance(queue.rules.agent_gone_after_s + 1)
        assert await requeue_gone_agents(queue) == [conversation_id]
    await WaitingRoom(queue, conversations).tick()  # the customer is told their agent left

    tracker = await conversations.agent.tracker_store.retrieve(conversation_id)
    told_now = [e.metadata.get("utter_action") for e in tracker.events if e.type_name == "bot"]
    assert "utter_queue_agent_left" in told_now
    assert tracker.is_paused(), "still waiting for a person"
    tracker.update(UserUttered("202411"))
    assert not desk_proof.answers_desk_proof(tracker), "the digits are not taken for the departed agent's proof"
    assert tracker.get_slot("pending_request") is None and tracker.get_slot("awaiting") is None
