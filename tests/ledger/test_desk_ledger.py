"""The ledger page at the desk, in a real browser: supervisors filter overdue and repeat items, agents close steps."""
from __future__ import annotations

import datetime as dt

import pytest
import requests

from bot.db.repository import Repository
from bot.ledger.rules import load_rules
from tests.handoff.stack_client import DESK_HEADERS, desk, desk_login, desk_page
from tests.ledger.seeding import backdate

pytestmark = [pytest.mark.slow]


def test_the_ledger_api_is_for_signed_in_agents_only(running_kefu):
    url = f"{running_kefu.settings.rasa_url}/agent/api/ledger"
    assert requests.get(url, timeout=10).status_code == 401
    session = desk_login(running_kefu)
    repo = Repository(running_kefu.settings.database_url)
    ticket_id = repo.create_ticket(kind="visit", customer_id=2, summary="api test")
    assert session.post(f"{url}/{ticket_id}/done", json={}, timeout=10).status_code == 403
    assert requests.post(f"{url}/{ticket_id}/done", json={}, headers=DESK_HEADERS, timeout=10).status_code == 401
    listed = desk(session, running_kefu, "GET", "ledger?kind=visit").json()["items"]
    assert ticket_id in [i["ticket_id"] for i in listed]
    closed = desk(session, running_kefu, "POST", f"ledger/{ticket_id}/done", note="engineer booked").json()["item"]
    assert closed["step"] == "acted_on" and closed["owner"] == running_kefu.settings.demo_agent_name


@pytest.mark.browser
def test_a_supervisor_filters_the_ledger_and_closes_a_step(browser, running_kefu):
    stack = running_kefu
    rules = load_rules(stack.settings.content_dir / "ledger.yml")
    repo = Repository(stack.settings.database_url)
    late = repo.create_ticket(kind="complaint", customer_id=3, summary="installer never came")
    backdate(repo, late, dt.timedelta(hours=rules.due_hours["complaint"]["acted_on"] + 1))
    first = repo.create_ticket(kind="fault", customer_id=4, summary="no internet", channel="webchat",
                               details={"fault_type": "fault_broadband"})
    again = repo.create_ticket(kind="fault", customer_id=4, summary="no internet again", channel="ivr",
                               details={"fault_type": "fault_broadband"})
    errors: list[str] = []
    context, page = desk_page(browser, stack, errors)
    try:
        page.goto(f"{stack.settings.rasa_url}/agent/ledger/")

        page.locator("#filter-flag").select_option("overdue")
        page.locator("#ledger-filter button[type=submit]").click()
        page.locator(f"tr[data-ticket-id={again}]").wait_for(state="detached", timeout=10000)
        row = page.locator(f"tr[data-ticket-id={late}]")
        row.locator(".flag.overdue", has_text=rules.flag_labels["overdue"]).wait_for(timeout=10000)

        row.locator("input").fill("已致电客户道歉并改约")
        row.locator(".close-step").click()
        page.locator(f"tr[data-ticket-id={late}]").wait_for(state="detached", timeout=10000)  # no longer overdue

        page.locator("#filter-flag").select_option("repeat")
        page.locator("#ledger-filter button[type=submit]").click()
        repeat = page.locator(f"tr[data-ticket-id={again}]")
        repeat.locator(".flag.repeat", has_text=first).wait_for(timeout=10000)

        page.locator("#filter-flag").select_option("")
        page.locator("#filter-owner").fill(stack.settings.demo_agent_name)
        page.locator("#ledger-filter button[type=submit]").click()
        mine = page.locator(f"tr[data-ticket-id={late}]")
        mine.wait_for(timeout=10000)
        assert mine.locator(".step").inner_text() == rules.step_labels["acted_on"]
    finally:
        context.close()
    assert not errors, errors
    history = repo.ticket_history(late)
    assert history[-1]["to_status"] == "assigned" and "改约" in history[-1]["note"]
