"""请客户验证身份 on a channel where the bot cannot ask (bot/handoff/desk_proof.py; the full flow is
tests/channels/test_desk_proof.py)."""
from __future__ import annotations

import json

import pytest

from bot.handoff.desk import DeskError
from bot.handoff.queue import HandoffRequest
from tests.conftest import PROJECT_ROOT
from tests.handoff.test_desk_opt_out import served


async def test_a_phone_caller_cannot_be_sent_to_a_proof_the_line_would_not_read(queue, kefu_env):
    """请客户验证身份 on the phone: refused with words for the agent, not a prompt the bridged caller never answers."""
    desk = await served(queue, kefu_env, HandoffRequest("ivr:proof-call-1", "ivr", "billing", 1, None, {}))
    with pytest.raises(DeskError) as refused:
        await desk.ask_proof("wang", "ivr:proof-call-1")
    assert refused.value.code == "error_proof_phone"
    shown = json.loads((PROJECT_ROOT / "content" / "ui" / "agent_desk.zh.json").read_text(encoding="utf-8"))
    assert "服务密码" in shown["error_proof_phone"] and shown.get("proof_ask")
