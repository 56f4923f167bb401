"""On the phone a visit's new time comes from the speech recogniser: it is read back and the visit
changes only on a yes (key 1); a no (key 2) changes nothing and asks for the time again. Found by a
cross-channel journey tester: the transcript moved the visit at once, so a misheard day went
unconfirmed onto the ticket."""
from __future__ import annotations

import asyncio
import datetime as dt
import time

import pytest
import requests

from bot.analytics.config import centre_zone
from bot.labels import labels
from bot.security.secrets import load_secrets
from tests.ivr.conftest import call_state
from tests.ivr.simulator import PhoneCall
from tests.speech import spoken_on_the_phone

pytestmark = pytest.mark.slow

PHONE = "13800000003"
BOOKED_FOR = "12月5日（周六）"


def day_as_told(days_ahead: int, part: str) -> str:
    day = dt.datetime.now(centre_zone()).date() + dt.timedelta(days=days_ahead)
    return f"{day.month}月{day.day}日（{labels()['visit_when']['weekdays'][day.weekday()]}）{part}"


def bot_turns(stack, conversation_id: str) -> list[tuple[str, str]]:
    """What the assistant said in the call so far: (response name, text)."""
    reply = requests.get(f"{stack.settings.rasa_url}/conversations/{conversation_id}/tracker", timeout=30,
                         params={"token": load_secrets(stack.settings).rasa_token})
    reply.raise_for_status()
    return [((e.get("metadata") or {}).get("utter_action") or "", e.get("text") or "")
            for e in reply.json()["events"] if e["event"] == "bot"]


async def until_said(stack, call: PhoneCall, response: str, times: int = 1) -> str:
    """Wait until the assistant has said ``response`` ``times`` times in the call; its last text."""
    deadline = time.monotonic() + 60
    while True:
        said = await asyncio.to_thread(bot_turns, stack, f"ivr:{call.stream_sid}")
        texts = [text for name, text in said if name == response]
        if len(texts) >= times:
            return texts[-1]
        assert time.monotonic() < deadline, f"no {response} x{times}; said {said}; marks={call.marks()}"
        await asyncio.sleep(0.2)


async def test_a_visit_time_heard_on_the_phone_is_read_back_and_changed_only_on_a_yes(
        ivr_url, stack_redis, repository, running_kefu):
    customer = repository.find_customer(phone=PHONE)
    visit = repository.create_ticket(kind="visit", customer_id=customer.id, summary="客户预约上门：周六",
                                     details={"visit_time": BOOKED_FOR})
    token = load_secrets(running_kefu.settings).ivr_trunk_token  # the caller's own line, vouched: verified

    try:
        async with PhoneCall(ivr_url, caller=f"+86{PHONE}", flow="t_bot",
                             parameters={"callerId": f"+86{PHONE}", "kefuTrunkToken": token}) as call:
            await call.wait_mark("ask", 20)
            await call.say_and_wait(spoken_on_the_phone("上门改明天下午"))
            read_back = await until_said(running_kefu, call, "utter_visit_time_confirm_change")
            assert day_as_told(1, "下午") in read_back, read_back
            assert (await call_state(stack_redis, call.stream_sid))["buttons"] == ["/affirm", "/deny"]
            assert repository.get_ticket(visit)["details"]["visit_time"] == BOOKED_FOR, "not before a yes"

            await call.press("2")  # 不对
            await until_said(running_kefu, call, "utter_visit_time_ask_again")
            assert repository.get_ticket(visit)["details"]["visit_time"] == BOOKED_FOR

            await call.say_and_wait(spoken_on_the_phone("上门改后天上午"))
            read_back = await until_said(running_kefu, call, "utter_visit_time_confirm_change", 2)
            assert day_as_told(2, "上午") in read_back, read_back
            await call.press("1")  # 对
            changed = await until_said(running_kefu, call, "utter_visit_time_changed")
            await call.hangup()
        assert repository.get_ticket(visit)["details"]["visit_time"] == day_as_told(2, "上午")
        assert day_as_told(2, "上午") in changed
        assert [t["ticket_id"] for t in repository.tickets_for(customer.id) if t["kind"] == "visit"] == [visit]
    finally:  # done and followed up: other tests of the session see no visit of this customer's
        for status in ("resolved", "follow_up_done"):
            if repository.get_ticket(visit)["status"] != status:
                repository.move_ticket(visit, status)
