"""Analytics keys a phone contact by the caller's number only when the number is proven (audit
finding 11): an anonymous softphone claiming a customer's number must not merge its history with
that customer's (FCR and repeat customers join on the key)."""
from __future__ import annotations

import uuid

import sqlalchemy as sa

from bot.db.repository import Repository
from bot.db.schema import conversation_events
from bot.ivr.call_state import CallStore
from bot.ivr.config import HotlineConfigSource
from bot.ivr.engine import FlowEngine
from bot.ivr.events import CallStart
from bot.ivr.flow_tests import CollectingNotifier, ScriptedBot, ScriptedQueue
from bot.ivr.registry import FlowRegistry
from bot.ivr.services import CallRecords, CallServices
from tests.handoff.conftest import redis, redis_url  # noqa: F401


async def started_key(kefu_env, redis, *, verified: bool) -> list[str]:  # noqa: F811
    repository = Repository(kefu_env.database_url)
    engine = FlowEngine(CallServices(
        registry=FlowRegistry(kefu_env.root / "ivr_flows", redis).load(), store=CallStore(redis),
        hotline=HotlineConfigSource(kefu_env.content_dir / "ivr.yml"), records=CallRecords(repository),
        handoff=ScriptedQueue(wait_s=60), notifier=CollectingNotifier(), bot=ScriptedBot([])))
    call_id = f"caller-{uuid.uuid4().hex[:8]}"
    await engine.start(CallStart(call_id=call_id, caller="13800000001", flow="main", caller_verified=verified))
    await engine.end(call_id, "test")
    with repository.engine.connect() as conn:
        return [r.customer for r in conn.execute(sa.select(conversation_events.c.customer).where(
            conversation_events.c.conversation_id == f"ivr:{call_id}",
            conversation_events.c.kind == "contact_started"))]


async def test_an_unvouched_caller_id_is_not_written_as_the_customers_key(kefu_env, redis):  # noqa: F811
    assert await started_key(kefu_env, redis, verified=False) == [""]


async def test_a_caller_id_the_trunk_vouched_for_identifies_the_customer(kefu_env, redis):  # noqa: F811
    assert await started_key(kefu_env, redis, verified=True) == ["customer:1"]
