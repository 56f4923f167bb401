"""The phone trunk's caller ID verifies the caller; a number typed into the softphone does not."""
from __future__ import annotations

import pytest
import requests

from bot.security.secrets import load_secrets
from tests.ivr.simulator import PhoneCall

pytestmark = pytest.mark.slow


def bot_texts(stack, conversation_id: str) -> str:
    reply = requests.get(f"{stack.settings.rasa_url}/conversations/{conversation_id}/tracker", timeout=30,
                         params={"token": load_secrets(stack.settings).rasa_token})
    reply.raise_for_status()
    return "\n".join(e.get("text") or "" for e in reply.json()["events"] if e["event"] == "bot")


async def test_trunk_caller_id_gets_the_bill_without_a_code(ivr_url, running_kefu):
    token = load_secrets(running_kefu.settings).ivr_trunk_token
    async with PhoneCall(ivr_url, caller="+8613800000002", flow="t_bill",
                         parameters={"callerId": "+8613800000002", "kefuTrunkToken": token}) as call:
        await call.wait_mark("bill:bot", 40)
        await call.hangup()
    said = bot_texts(running_kefu, f"ivr:{call.stream_sid}")
    assert "李娜" in said and "-318.00" in said and "验证码" not in said


async def test_a_caller_id_without_the_trunk_token_must_prove_it(ivr_url, running_kefu):
    async with PhoneCall(ivr_url, caller="+8613800000002", flow="t_bill",
                         parameters={"callerId": "+8613800000002", "kefuTrunkToken": "guessed"}) as call:
        await call.wait_mark("bill:bot", 40)
        await call.hangup()
    said = bot_texts(running_kefu, f"ivr:{call.stream_sid}")
    assert "李娜" not in said and "-318.00" not in said and "手机号码" in said, said


@pytest.mark.parametrize("vouched", [False, True], ids=["typed-caller-id", "trunk-caller-id"])
async def test_only_a_vouched_caller_id_puts_the_customer_on_the_agents_screen(ivr_url, running_kefu, stack_redis,
                                                                               vouched):
    """Found by a probe: a softphone call with From=13800000004 and no trunk token queued as that VIP
    customer, and the agent's screen showed her name, address, plan and bills as verified."""
    from bot.handoff.queue import HandoffQueue

    token = load_secrets(running_kefu.settings).ivr_trunk_token if vouched else "guessed"
    async with PhoneCall(ivr_url, caller="+8613800000004", flow="t_menu",
                         parameters={"callerId": "+8613800000004", "kefuTrunkToken": token}) as call:
        await call.wait_media()
        await call.press("0")
        await call.wait_mark("agent", 20)
        entry = await HandoffQueue(stack_redis).entry(f"ivr:{call.stream_sid}")
        await call.hangup()
    customer = (entry["request"].context or {}).get("customer")
    phone = (entry["request"].context or {}).get("phone")  # where the waiting room's 预约回电 would call
    if vouched:
        assert entry["request"].customer_id and customer and customer["name"] and phone
    else:
        assert entry["request"].customer_id is None and not customer and not phone
