"""Analytics keys a phone contact by the caller's number only when the number is proven (audit
finding 11): an anonymous softphone claiming a customer's number must not merge its history with
that customer's (FCR and repeat customers join on the key). Proven means the trunk vouched for it,
or the call is the one Kefu placed to that number (its attempt token): a made-up ``kefuContact``
proves nothing."""
from __future__ import annotations

import datetime as dt
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


async def started_key(kefu_env, redis, *, verified: bool, contact_token: str = "") -> list[str]:  # noqa: F811
    repository = Repository(kefu_env.database_url)
    engine = FlowEngine(CallServices(
        registry=FlowRegistry(kefu_env.root / "ivr_flows", redis).load(), store=CallStore(redis),
        hotline=HotlineConfigSource(kefu_env.content_dir / "ivr.yml"), records=CallRecords(repository),
        handoff=ScriptedQueue(wait_s=60), notifier=CollectingNotifier(), bot=ScriptedBot([])))
    call_id = f"caller-{uuid.uuid4().hex[:8]}"
    await engine.start(CallStart(call_id=call_id, caller="13800000001", flow="main", caller_verified=verified,
                                 contact_token=contact_token))
    await engine.end(call_id, "test")
    with repository.engine.connect() as conn:
        return [r.customer for r in conn.execute(sa.select(conversation_events.c.customer).where(
            conversation_events.c.conversation_id == f"ivr:{call_id}",
            conversation_events.c.kind == "contact_started"))]


async def test_an_unvouched_caller_id_is_not_written_as_the_customers_key(kefu_env, redis):  # noqa: F811
    assert await started_key(kefu_env, redis, verified=False) == [""]


async def test_a_caller_id_the_trunk_vouched_for_identifies_the_customer(kefu_env, redis):  # noqa: F811
    assert await started_key(kefu_env, redis, verified=True) == ["customer:1"]


async def test_a_made_up_contact_token_does_not_vouch_for_the_caller_id(kefu_env, redis):  # noqa: F811
    """Anyone can open the media stream (the softphone does) and send any ``kefuContact``: with one it
    made up, a claimed caller ID was taken as proven and the desk got that customer's record."""
    assert await started_key(kefu_env, redis, verified=False, contact_token="not-a-token") == [""]


def placed_contact(kefu_env, phone: str) -> str:
    """A contact Kefu is calling at ``phone`` now: its attempt token, as the dialled call carries it."""
    from bot.contacts.schedule import Schedule

    schedule = Schedule(Repository(kefu_env.database_url))
    now = dt.datetime.utcnow()
    contact_id = schedule.add(dedupe_key=f"test-{uuid.uuid4().hex}", purpose="followup", rule="repair_followup",
                              due_at=now, channels=["phone"], customer_id=1, phone=phone)
    return schedule.claim(contact_id, "test", now, dt.timedelta(minutes=5))


async def test_the_call_kefu_placed_answers_for_its_number(kefu_env, redis):  # noqa: F811
    token = placed_contact(kefu_env, "13800000001")
    assert await started_key(kefu_env, redis, verified=False, contact_token=token) == ["customer:1"]


async def test_a_placed_calls_token_proves_nothing_for_another_number(kefu_env, redis):  # noqa: F811
    token = placed_contact(kefu_env, "13900000009")
    assert await started_key(kefu_env, redis, verified=False, contact_token=token) == [""]
