"""The "done when" of the follow-up calls, in a real Chromium: an agent resolves a repair ticket on the
ledger page and asks for the follow-up now; Kefu's contact worker places the call through the demo
carrier and the softphone page rings. Declined, the call counts as not answered and is retried per
the rules; answered, the follow-up flow runs (1 = fixed, then a CSAT key) and the ledger page shows
the item at "follow-up done"."""
from __future__ import annotations

import asyncio
import datetime as dt
import json

import pytest
import yaml

from bot.contacts.schedule import Schedule
from bot.ledger.rules import load_rules as load_ledger_rules
from tests.ivr.demo_phone import demo_worker, until_contact
from tests.ivr.softphone_browser import softphone_page
from tests.ivr.test_followup_call import new_customer, until
from voice.pcm import pcm_to_wav_bytes

pytestmark = [pytest.mark.slow, pytest.mark.browser]


class TestClock:
    """Naive UTC at the next 10:00 in Shanghai (02:00 UTC): inside the day whenever the test runs, and
    before a follow-up resolved now falls due (24 h later)."""
    __test__ = False

    def __init__(self) -> None:
        now = dt.datetime.utcnow()
        self.now = now.replace(hour=2, minute=0, second=0, microsecond=0)
        if self.now <= now:
            self.now += dt.timedelta(days=1)

    def __call__(self) -> dt.datetime:
        return self.now


def silent_microphone(tmp_path) -> str:
    path = tmp_path / "silence.wav"
    path.write_bytes(pcm_to_wav_bytes(b"\x00\x00" * 16000 * 2, 16000))
    return str(path)


async def sign_in(page, stack) -> None:
    await page.goto(f"{stack.settings.rasa_url}/agent/")
    await page.fill("#login-name", stack.settings.demo_agent_name)
    await page.fill("#login-password", stack.settings.demo_agent_password)
    await page.click("#login-submit")
    await page.locator("#desk").wait_for(state="visible", timeout=15_000)


async def said(page, text: str, timeout: float = 30_000) -> None:
    await page.wait_for_function(f"() => window.kefuPhone.captions.includes({json.dumps(text)})", timeout=timeout)


async def test_a_follow_up_rings_the_softphone_is_declined_then_answered_and_closes_the_ledger_item(
        running_kefu, repository, tmp_path):
    stack = running_kefu
    customer_id, phone = new_customer(repository)
    ticket_id = repository.create_ticket(kind="fault", customer_id=customer_id, summary="机顶盒无信号",
                                         details={"fault_type": "tv"}, channel="webchat")
    steps = load_ledger_rules(stack.settings.content_dir / "ledger.yml").step_labels
    prompts = yaml.safe_load((stack.settings.ivr_flows_dir / "followup.yml").read_text(encoding="utf-8"))["nodes"]
    clock = TestClock()
    schedule = Schedule(repository)

    async with softphone_page(stack, silent_microphone(tmp_path), phone) as softphone:
        # Built once Chromium runs: building it imports Rasa, which installs uvloop's loop policy,
        # and Playwright cannot start its driver under that policy.
        worker = demo_worker(stack, clock)
        await softphone.dispatch_event("#caller", "change")  # listen for calls to this number
        await softphone.wait_for_function(f"() => document.getElementById('listening').textContent.includes('{phone}')")
        desk = await softphone.context.browser.new_page()
        await sign_in(desk, stack)
        await desk.goto(f"{stack.settings.rasa_url}/agent/ledger/")
        row = desk.locator(f"tr[data-ticket-id='{ticket_id}']")

        # The agent resolves the ticket at the desk: acted on, then the customer told.
        await row.locator(".close-step").click()
        await row.locator(".step", has_text=steps["acted_on"]).wait_for(timeout=15_000)
        await row.locator(".close-step").click()
        await row.locator(".step", has_text=steps["customer_told"]).wait_for(timeout=15_000)

        await worker.run_pass()  # schedules the follow-up, a day after the resolution: nothing rings yet
        contact = await until_contact(repository, lambda c: c["ticket_id"] == ticket_id, "the follow-up")
        assert contact["status"] == "scheduled" and contact["due_at"] > clock()

        await desk.click("#ledger-filter button[type=submit]")
        await row.locator(".followup-now").click()  # "call now"
        await until(lambda: schedule.get(contact["id"])["due_at"] <= dt.datetime.utcnow(), "the follow-up to be due")

        await worker.run_pass()
        await softphone.wait_for_function("() => window.kefuPhone.status === 'ringing'", timeout=20_000)
        assert phone in await softphone.locator("#incoming-from").text_content()
        await softphone.click("#decline")
        retried = await until_contact(repository, lambda c: c["id"] == contact["id"] and c["status"] == "scheduled"
                                      and c["attempts"] == 1, "the declined call to be retried", worker=worker)
        assert retried["result"] == "busy" and retried["details"]["last_carrier_status"] == "busy"
        assert retried["due_at"] == clock() + worker.rules().retry_delays[0]

        clock.now = retried["due_at"]
        await worker.run_pass()
        await softphone.wait_for_function("() => window.kefuPhone.status === 'ringing'", timeout=20_000)
        await softphone.click("#answer")
        await said(softphone, prompts["ask_fixed"]["say"])
        await softphone.click(".keypad button[data-key='1']")
        await said(softphone, prompts["ask_csat"]["say"])
        await softphone.click(".keypad button[data-key='5']")
        await softphone.wait_for_function("() => window.kefuPhone.status === 'ended'", timeout=30_000)
        stream = await softphone.evaluate("window.kefuPhone.streamSid")

        await until(lambda: repository.get_ticket(ticket_id)["status"] == "follow_up_done", "follow-up done")
        await desk.check("#filter-all")
        await desk.click("#ledger-filter button[type=submit]")
        await row.locator(".step", has_text=steps["follow_up_done"]).wait_for(timeout=15_000)
    done = schedule.get(contact["id"])
    assert done["status"] == "done" and done["result"] == "fixed" and done["attempts"] == 2
    events = await asyncio.to_thread(repository.events_for, f"ivr:{stream}")
    assert [e["data"]["score"] for e in events if e["kind"] == "csat_given"] == [5]
