"""Real conversations through the running stack produce exactly the figures worked out by hand.

Five contacts: a TV fault fixed by self-help on the REST channel (customer 13800000001, who
gives a score of 5), a service change that becomes a ticket (another customer), a request for
a human answered at the desk, a phone caller who hangs up in the queue, and customer
13800000001 again, this time by phone. Only this test's conversations are counted.
"""
from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from bot.analytics.contacts import split_contacts
from bot.analytics.kpis import figures
from bot.db.repository import engine_for
from bot.outcomes.store import read_events
from tests.handoff.stack_client import desk, desk_login, only_waiting, say, tracker
from tests.ivr.simulator import PhoneCall

pytestmark = pytest.mark.slow


def our_events(stack, conversations: set[str]) -> list[dict]:
    return [e for e in read_events(engine_for(stack.settings.database_url)) if e["conversation_id"] in conversations]


def poll(check, what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} did not happen in {timeout:.0f}s"
        time.sleep(0.3)


def phone_call(stack, caller: str, steps) -> str:
    """A call whose caller ID the carrier vouches for (the trunk token): it says who the customer is."""
    from bot.security.secrets import load_secrets

    url = f"ws://{stack.settings.host}:{stack.settings.rasa_port}/webhooks/ivr/media"
    trunk = {"kefuTrunkToken": load_secrets(stack.settings).ivr_trunk_token}

    async def run() -> str:
        async with PhoneCall(url, caller=caller, flow="t_menu", parameters=trunk) as call:
            await call.wait_media()
            await steps(call)
        return f"ivr:{call.stream_sid}"

    return asyncio.run(run())


async def hang_up_in_queue(call) -> None:
    await call.press("0")
    await call.wait_mark("agent", 20)
    await call.hangup()


async def check_bill_by_keys(call) -> None:
    await call.press("1")
    await call.wait_mark("bill", 20)
    for digit in "13800000001#":
        await call.press(digit)
    await call.wait_closed(30)


def demo_service_password(stack, account_number: str) -> str:
    """The demo customer's service password, as the seed file gives it."""
    import yaml

    seed = yaml.safe_load((stack.settings.content_dir / "demo" / "seed.yml").read_text(encoding="utf-8"))
    return next(str(c["service_password"]) for c in seed["customers"] if str(c["account_number"]) == account_number)


def queue_times(stack, conversation_id: str) -> tuple[float, float]:
    """When the queue says the customer joined and was answered (Redis, not the outcome record)."""
    import redis

    from bot.handoff import keys

    entry = redis.Redis.from_url(stack.redis_url).hgetall(keys.conversation(conversation_id))
    return float(entry[b"enqueued_at"]), float(entry[b"claimed_at"])


def test_real_conversations_give_the_expected_containment_fcr_and_asa(running_kefu):
    stack = running_kefu
    run = uuid.uuid4().hex[:8]
    selfhelp, ticket, answered = f"kpi-{run}-selfhelp", f"kpi-{run}-ticket", f"kpi-{run}-human"

    # 1. Self-help fixes the TV (customer 1 identifies), then a CSAT of 5 by button.
    say(stack, selfhelp, "13800000001")
    say(stack, selfhelp, "我家电视没信号了")
    fixed = say(stack, selfhelp, "解决了")
    assert any(m.get("buttons") for m in fixed), fixed  # the score buttons
    say(stack, selfhelp, '/csat_score{"csat_score": "5"}')

    # 2. A service change becomes a ticket (customer 3, who proves it with the service password).
    say(stack, ticket, "我要暂停宽带业务")
    say(stack, ticket, "8800000003")
    say(stack, ticket, demo_service_password(stack, "8800000003"))

    # 3. A human, answered at the desk and closed as resolved.
    say(stack, answered, "转人工")
    assert tracker(stack, answered)["paused"] is True
    session = desk_login(stack)
    only_waiting(stack, answered, stack.settings.demo_agent_name)
    assert desk(session, stack, "POST", "claim").json()["conversation"]["conversation_id"] == answered
    assert desk(session, stack, "POST", f"conversations/{answered}/close", disposition="resolved", note="ok").ok
    enqueued_at, claimed_at = queue_times(stack, answered)

    # 4. A caller hangs up in the queue.  5. Customer 1 again, by phone, served by the menu.
    abandoned = phone_call(stack, "13912345678", hang_up_in_queue)
    repeat = phone_call(stack, "13800000001", check_bill_by_keys)

    ours = {selfhelp, ticket, answered, abandoned, repeat}
    expected_how = {selfhelp: "assistant", ticket: "ticket", answered: "agent", abandoned: "abandoned",
                    repeat: "assistant"}
    contacts = poll(lambda: (lambda cs: cs if {c.conversation_id: c.how for c in cs} == expected_how else None)(
        split_contacts(our_events(stack, ours))), "all five outcomes recorded")

    result = figures(contacts, sl_seconds=20)
    assert result.contacts == 5
    assert result.containment == pytest.approx(2 / 5)  # self-help and the phone menu
    # First-contact resolved: the answered human and the phone call. The self-help contact is not:
    # customer 1 came back by phone; the ticket is work still to do; the abandoned caller was not served.
    assert result.fcr_24h == pytest.approx(2 / 5)
    assert result.fcr_48h == pytest.approx(2 / 5)
    assert result.answered == 1 and result.abandoned == 1
    assert result.asa_s == pytest.approx(claimed_at - enqueued_at, abs=0.002)
    assert (result.csat_average, result.csat_count) == (5, 1)
    assert next(c for c in contacts if c.conversation_id == repeat).customers == {"customer:1"}


@pytest.mark.browser
def test_supervisors_see_live_figures_update_without_reloading(running_kefu, browser):
    stack = running_kefu
    page = browser.new_page()
    page.goto(f"{stack.settings.rasa_url}/agent/")
    page.locator("#login-name").fill(stack.settings.demo_agent_name)
    page.locator("#login-password").fill(stack.settings.demo_agent_password)
    page.locator("#login-submit").click()
    today = page.locator("#live-figures .live-today")
    today.wait_for(timeout=20_000)
    assert "平均应答" in today.inner_text()
    before = stack_contacts(stack)

    waiting = f"kpi-live-{uuid.uuid4().hex[:8]}"
    session = desk_login(stack)
    only_waiting(stack, "", stack.settings.demo_agent_name)
    say(stack, waiting, "转人工")
    # The panel shows the new customer in the queue, without a reload.
    page.wait_for_function("() => [...document.querySelectorAll('#live-figures .live-queue')]"
                           ".some(p => Number(p.dataset.waiting) >= 1)", timeout=20_000)
    assert desk(session, stack, "GET", "live").json()["today"]["contacts"] > before
    only_waiting(stack, "", stack.settings.demo_agent_name)
    page.close()


def stack_contacts(stack) -> int:
    session = desk_login(stack)
    return desk(session, stack, "GET", "live").json()["today"]["contacts"]
