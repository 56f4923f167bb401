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


def test_an_agents_note_shows_numbers_masked_as_the_summary_does(running_kefu):
    """A note goes to every agent of the group (a tester's "客户新号码 13912345678" went as typed)."""
    session = desk_login(running_kefu)
    ticket_id = Repository(running_kefu.settings.database_url).create_ticket(
        kind="visit", customer_id=2, summary="回电 138 0000 0003")
    note = "已联系，客户新号码 13912345678，身份证 110101199001011234，备用 139-1234-5679"
    closed = desk(session, running_kefu, "POST", f"ledger/{ticket_id}/done", note=note).json()["item"]
    listed = next(i for i in desk(session, running_kefu, "GET", "ledger?kind=visit&all=1").json()["items"]
                  if i["ticket_id"] == ticket_id)
    for item in (closed, listed):
        assert item["summary"] == "回电 *** **** 0003"
        assert item["steps"][-1]["note"].endswith(
            "已联系，客户新号码 *******5678，身份证 **************1234，备用 ***-****-5679")


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


@pytest.mark.browser
def test_the_desk_and_the_ledger_show_times_in_the_centres_zone_whatever_the_pcs_clock(browser, running_kefu):
    """Found by a tester: the same due time read 07:01 on a PC set to UTC and 15:01 on one set to
    Shanghai, with no zone shown. The centre's zone is content/kpi.yml's (Asia/Shanghai)."""
    from zoneinfo import ZoneInfo

    stack = running_kefu
    repo = Repository(stack.settings.database_url)
    shanghai = ZoneInfo("Asia/Shanghai")
    promised = dt.datetime(2026, 12, 2, 13, 1, tzinfo=shanghai)
    ticket_id = repo.create_ticket(kind="callback", customer_id=None, summary="回电", needs_human=True, priority=9, details={
        "callback_phone": "13900001234", "callback_by": promised.isoformat(timespec="minutes"), "skill": "tv"})
    due = Repository(stack.settings.database_url).get_ticket(ticket_id)["created_at"] + dt.timedelta(
        hours=load_rules(stack.settings.content_dir / "ledger.yml").due_hours["callback"]["acted_on"])
    due_shown = due.replace(tzinfo=dt.timezone.utc).astimezone(shanghai).strftime("%Y/%m/%d %H:%M") + " GMT+8"
    errors: list[str] = []
    context, page = desk_page(browser, stack, errors, timezone_id="America/New_York")
    try:
        item = page.locator("#work-items li", has_text=ticket_id)
        item.wait_for(timeout=10000)
        assert "2026/12/02 13:01 GMT+8" in item.inner_text()
        page.locator("#live-figures .live-updated", has_text="GMT+8").wait_for(timeout=15000)

        page.goto(f"{stack.settings.rasa_url}/agent/ledger/")
        row = page.locator(f"tr[data-ticket-id={ticket_id}]")
        row.wait_for(timeout=10000)
        assert due_shown in row.inner_text()
    finally:
        context.close()
    assert not errors, errors
