"""客户要求不再联系: an agent records the customer's opt-out from the desk, audited like a reveal.

Found by a data-protection audit: the desk had no opt-out action, only the `kefu contacts dnd` CLI.
"""
from __future__ import annotations

import json
import logging

import pytest

from bot.contacts.schedule import Schedule
from bot.db.repository import Repository
from bot.handoff.accounts import AccountStore
from bot.handoff.desk import Desk, DeskError
from bot.handoff.queue import HandoffRequest
from tests.conftest import PROJECT_ROOT


async def served(queue, kefu_env, request: HandoffRequest) -> Desk:
    await queue.enqueue(request)
    assert (await queue.take_next("wang"))[1].conversation_id == request.conversation_id
    return Desk(queue, None, AccountStore(kefu_env.database_url), Repository(kefu_env.database_url))


async def test_a_verified_customer_is_opted_out_and_the_agent_is_on_record(queue, kefu_env, caplog):
    request = HandoffRequest("dpo-frank-6", "webchat", "billing", 1, "2",
                             {"customer": {"name": "李娜", "phone": "13800000002"}})
    desk = await served(queue, kefu_env, request)
    with caplog.at_level(logging.INFO, logger="bot.handoff.desk"):
        shown = await desk.opt_out("wang", "dpo-frank-6")
    assert shown.endswith("0002") and "13800000002" not in shown
    assert Schedule(desk.repository).blocked("phone:13800000002") == "opt_out"
    events = desk.repository.events_for("dpo-frank-6")
    assert [e["kind"] for e in events] == ["contact_opted_out"]
    assert events[0]["data"]["agent_id"] == "wang" and events[0]["data"]["via"] == "agent"
    assert any("handoff.desk.opted_out agent=wang" in r.getMessage() for r in caplog.records)


async def test_a_wechat_customer_is_opted_out_by_their_account(queue, kefu_env):
    desk = await served(queue, kefu_env, HandoffRequest("o6_bm_desk_optout_1", "wechat", "billing", 1, None, {}))
    assert await desk.opt_out("wang", "o6_bm_desk_optout_1") == ""
    assert Schedule(desk.repository).blocked("wechat:o6_bm_desk_optout_1") == "opt_out"


async def test_a_number_an_unverified_chat_customer_typed_is_not_opted_out(queue, kefu_env):
    request = HandoffRequest("dpo-gina-7", "webchat", "billing", 1, None, {"claimed_phone": "13800000001"})
    desk = await served(queue, kefu_env, request)
    with pytest.raises(DeskError) as refused:
        await desk.opt_out("wang", "dpo-gina-7")
    assert refused.value.code == "error_opt_out_unknown"
    assert Schedule(desk.repository).blocked("phone:13800000001") is None
    shown = json.loads((PROJECT_ROOT / "content" / "ui" / "agent_desk.zh.json").read_text(encoding="utf-8"))
    assert shown.get("error_opt_out_unknown") and shown.get("opt_out")


async def test_only_the_agent_serving_the_conversation_may_opt_it_out(queue, kefu_env):
    request = HandoffRequest("dpo-henry-8", "webchat", "billing", 1, "3", {"customer": {"phone": "13800000003"}})
    desk = await served(queue, kefu_env, request)
    with pytest.raises(DeskError):
        await desk.opt_out("li", "dpo-henry-8")
    assert Schedule(desk.repository).blocked("phone:13800000003") is None
