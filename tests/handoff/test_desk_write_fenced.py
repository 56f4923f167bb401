"""An agent's write into a conversation refused by the conversation lock's fence.

The desk writes into a conversation under its lock (``RasaConversations._append``), and its save is
fenced like a turn's (``bot.lock_store``): when Redis hung past two leases and the customer's next
message took the lock meanwhile, the save raises ``LockLost`` and stores nothing. Real
``RasaConversations``, lock store and tracker store on one Redis; only Rasa's processor is stood in for.
"""
from __future__ import annotations

import json
import logging
import types
from types import SimpleNamespace

import pytest
import redis.asyncio as aioredis

import bot.lock_store
from bot.channels import agent_desk
from bot.handoff.accounts import AccountStore
from bot.handoff.conversations import RasaConversations
from bot.handoff.queue import HandoffRequest
from bot.handoff.sessions import COOKIE
from bot.lock_store import AsyncRedisLockStore
from bot.settings import redis_parts
from bot.tracker_store import IncrementalRedisTrackerStore
from tests.conftest import PROJECT_ROOT
from tests.handoff.test_desk_opt_out import served
from tests.handoff.test_desk_proof_ends import Processor, domain  # noqa: F401 - fixture


class Delivering(Processor):
    """Counts what would reach the customer (Rasa delivers the bot messages after the save)."""

    def __init__(self, store, domain) -> None:  # noqa: F811
        super().__init__(store, domain)
        self.delivered: list[str] = []

    async def execute_side_effects(self, events, tracker, output) -> None:
        self.delivered += [event.text for event in events]


@pytest.fixture
def conversations(redis, redis_url, domain):  # noqa: F811
    parts = redis_parts(redis_url)
    store = IncrementalRedisTrackerStore(domain, host=parts["host"], port=parts["port"], db=parts["db"])
    locks = AsyncRedisLockStore(host=parts["host"], port=parts["port"], db=parts["db"])
    agent = SimpleNamespace(tracker_store=store, lock_store=locks, domain=domain, processor=Delivering(store, domain))
    return RasaConversations(SimpleNamespace(ctx=SimpleNamespace(agent=agent)))


def the_next_message_takes_the_lock_once(conversations: RasaConversations, redis_url: str, conversation_id: str):
    """While the agent's write holds the lock, Redis hangs past two leases (the lock's record expires) and
    the customer's next message, on another worker, takes the lock; it is still running its turn."""
    nlg = conversations.agent.processor.nlg
    generate = nlg.generate
    keys = conversations.agent.lock_store._keys(conversation_id)

    async def taken_meanwhile(*args, **kwargs):
        nlg.generate = generate
        client = aioredis.Redis.from_url(redis_url)
        await client.delete(*keys)  # expired in the hang
        got, _ = await client.register_script(bot.lock_store.ACQUIRE)(keys=keys, args=["next-turn", 5000, "1"])
        assert got == 1
        await client.close()
        return await generate(*args, **kwargs)

    nlg.generate = taken_meanwhile

    async def next_turn_ends() -> None:
        client = aioredis.Redis.from_url(redis_url)
        await client.register_script(bot.lock_store.RELEASE)(keys=keys, args=["next-turn", 5000])
        await client.close()

    return next_turn_ends


def send_request(desk, token: str, conversation_id: str, text: str) -> types.SimpleNamespace:
    path = f"/agent/api/conversations/{conversation_id}/messages"
    app = types.SimpleNamespace(ctx=types.SimpleNamespace(kefu_desk=desk))
    return types.SimpleNamespace(app=app, cookies={COOKIE: token}, method="POST", path=path,
                                 headers={agent_desk.CSRF_HEADER: "1"}, body=b"{}", json={"text": text})


async def agent_messages(conversations: RasaConversations, conversation_id: str) -> list[str]:
    tracker = await conversations.agent.tracker_store.retrieve(conversation_id)
    return [event.metadata["agent"]["text"] for event in tracker.events
            if getattr(event, "metadata", None) and "agent" in event.metadata] if tracker else []


async def test_an_agents_message_refused_by_the_fence_is_a_clear_retryable_error(
        queue, kefu_env, conversations, redis_url, caplog):
    """Before: the refusal (a RedisError) left the desk's handler: a bare 500 from Sanic, or with the ops
    channel's handler a 503 whose English sentence the desk page has no text for. Now the agent is told,
    in the page's words, that the message was not sent and to send it again; nothing reached the customer
    or the record, and sending again goes through once."""
    conversation_id = "desk-fenced-1"
    desk = await served(queue, kefu_env, HandoffRequest(conversation_id, "webchat", "billing", 1, None, {}))
    desk.conversations = conversations
    AccountStore(kefu_env.database_url).add("wang", "wang-pass-1", ["billing"])
    token, _ = await desk.login("wang", "wang-pass-1")
    next_turn_ends = the_next_message_takes_the_lock_once(conversations, redis_url, conversation_id)

    with caplog.at_level(logging.WARNING, logger="bot.channels.agent_desk"):
        answer = await agent_desk.messages(send_request(desk, token, conversation_id, "您好，我是王芳"),
                                           conversation_id=conversation_id)

    assert answer.status == 503 and answer.headers.get("Retry-After") == "5"
    code = json.loads(answer.body)["error"]
    shown = json.loads((PROJECT_ROOT / "content" / "ui" / "agent_desk.zh.json").read_text(encoding="utf-8"))
    assert shown.get(code), f"the desk page has no text for {code!r}"
    assert any("desk.store_unavailable" in r.getMessage() and "LockLost" in r.getMessage() for r in caplog.records)
    assert conversations.agent.processor.delivered == [] and await agent_messages(conversations, conversation_id) == []

    await next_turn_ends()
    again = await agent_desk.messages(send_request(desk, token, conversation_id, "您好，我是王芳"),
                                      conversation_id=conversation_id)
    assert again.status == 200
    assert await agent_messages(conversations, conversation_id) == ["您好，我是王芳"]
    assert len(conversations.agent.processor.delivered) == 1
