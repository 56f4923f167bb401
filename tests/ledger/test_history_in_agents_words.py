"""A ticket's history as the agents read it on the ledger page: in Chinese, the editors' words.

Found in review: the notes Kefu wrote on a ticket were English sentences built in Python ("reported again
(rest): ...", "visit_time (rest): ...", "visit_change_requested (rest)"), and the desk showed no history at
all. Each entry is kept as its kind and values and read through content/labels.yml (``ticket_history``);
a row written before, in plain text, still shows as it was written. The actions run for real, on the demo
database; the desk's routes on a Sanic server, a real Redis, and the ledger page in Chromium.
"""
from __future__ import annotations

import asyncio
import re
import shutil

import aiohttp
import pytest
from sanic import Sanic, response

from actions.backend import repository
from bot.channels import agent_desk, ledger_desk
from bot.embedded_redis import free_port
from bot.handoff.accounts import SUPERVISOR, AccountStore
from bot.handoff.desk import Desk
from bot.handoff.rules import load_rules
from bot.settings import get_settings
from tests.action_tests.conftest import run_action  # noqa: F401 - actions run on tracker fixtures
from tests.action_tests.test_visits import saturday_visit, tomorrow
from tests.action_tests.trackers import load_tracker
from tests.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.handoff.conftest import clock, events, queue, redis, redis_url, rules  # noqa: F401 - a real Redis
from tests.sanic_served import served_app

Sanic.test_mode = True  # a second app in the process (tests/handoff/test_audio_ranges.py says why)

VERIFIED = {"customer_id": "1", "verified_customer_id": "1", "verified_by": "sms_code", "verified_channel": "rest"}
OLD_NOTE = "reported again (webchat): 电视没有信号"  # as the code before wrote it


@pytest.fixture
def desk(queue, kefu_env):  # noqa: F811
    AccountStore(kefu_env.database_url).add("zhang", "zhang-pass-1", ["tv", "broadband"], role=SUPERVISOR)
    return Desk(queue, None, AccountStore(kefu_env.database_url), repository())


@pytest.fixture
async def desk_url(desk):
    """The ledger page, its assets and API on a Sanic server of the test's own."""
    app = Sanic(f"history_{free_port()}")
    app.ctx.kefu_desk = desk
    app.add_route(ledger_desk.ledger_page, "/agent/ledger/", methods=["GET"])
    app.static("/agent/assets", str(agent_desk.WEB_DIR))
    app.static("/agent/ui", str(get_settings().content_dir / "ui"))
    app.add_route(lambda _: response.empty(), "/favicon.ico", methods=["GET"])
    for path, handler, methods in agent_desk.ROUTES + ledger_desk.ROUTES:
        app.add_route(handler, path, methods=methods)
    async with served_app(app) as url:
        yield url


async def ledger_history(url: str) -> dict[str, list[str]]:
    """Each ticket's history lines as the signed-in supervisor's ledger page gets them."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:  # a cookie for 127.0.0.1
        async with session.post(f"{url}/agent/api/login", json={"name": "zhang", "password": "zhang-pass-1"},
                                headers={agent_desk.CSRF_HEADER: "1"}) as answer:
            assert answer.status == 200
        async with session.get(f"{url}/agent/api/ledger?all=1", headers={agent_desk.CSRF_HEADER: "1"}) as answer:
            assert answer.status == 200
            items = (await answer.json())["items"]
    return {i["ticket_id"]: [h["line"] for h in i.get("history", [])] for i in items}


def chinese(line: str) -> bool:
    return not re.search("[A-Za-z_]", line)


async def test_the_ledger_shows_the_history_in_chinese_with_the_channel_and_the_customers_words(
        run_action, desk_url):  # noqa: F811
    """What the agent reads of a repair chased and a visit moved: where the customer asked and what they said."""
    repair = repository().create_ticket(kind="fault", customer_id=1, summary="宽带没信号",
                                        details={"fault_type": "fault_broadband"})
    await run_action("action_create_fault_ticket", load_tracker(
        "selfhelp_denied", text="还是上不了网，你们什么时候来修", intent="fault_broadband", **VERIFIED))
    visit = saturday_visit()
    await run_action("action_book_visit", load_tracker(
        "query_bill", text="上门时间得改一下，那天家里没人", intent="book_visit", **VERIFIED))
    await run_action("action_book_visit", load_tracker(
        "query_bill", text="上门改到明天上午", intent="book_visit", **VERIFIED))

    history = await ledger_history(desk_url)

    channel = load_rules().channel_names["rest"]  # content/handoff.yml: where the customer asked
    chased = [line for line in history[repair] if "你们什么时候来修" in line]
    assert len(chased) == 1 and channel in chased[0] and chinese(chased[0]), history[repair]
    asked = [line for line in history[visit] if "那天家里没人" in line]
    assert asked and all(channel in line and chinese(line) for line in asked), history[visit]
    moved = [line for line in history[visit] if tomorrow("上午") in line]
    assert moved and all(channel in line and chinese(line.replace(tomorrow("上午"), "")) for line in moved), \
        history[visit]
    assert all(chinese(line) for line in history[visit]), history[visit]


async def test_a_row_written_before_still_shows_as_it_was_written(run_action, desk_url):  # noqa: F811
    repair = repository().create_ticket(kind="fault", customer_id=1, summary="电视没信号",
                                        details={"fault_type": "fault_tv"})
    repository().chase_ticket(repair, OLD_NOTE)

    history = await ledger_history(desk_url)

    assert OLD_NOTE in history[repair]


def browse_ledger(url: str, ticket_id: str) -> tuple[str, int, list[str]]:
    """The ledger page in Chromium, signed in: the ticket's history as shown, and how many images it holds."""
    from tests.playwright_start import sync_playwright_started

    errors: list[str] = []
    with sync_playwright_started() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(locale="zh-CN")
            context.request.post(f"{url}/agent/api/login", data={"name": "zhang", "password": "zhang-pass-1"},
                                 headers={agent_desk.CSRF_HEADER: "1"})
            page = context.new_page()
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("dialog", lambda dialog: (errors.append(f"dialog: {dialog.message}"), dialog.dismiss()))
            page.goto(f"{url}/agent/ledger/")
            row = page.locator(f"tr[data-ticket-id={ticket_id}]")
            row.locator("summary").click(timeout=10000)
            shown = row.locator(".history").inner_text(timeout=10000)
            return shown, row.locator("img").count(), errors
        finally:
            browser.close()


@pytest.mark.browser
async def test_the_ledger_page_shows_the_customers_words_as_text(run_action, desk_url):  # noqa: F811
    """The customer's words reach the agents' page as text, never as markup (an image that runs a script)."""
    if not shutil.which(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed")
    words = '宽带还是没信号<img src=x onerror="alert(1)">'
    repair = repository().create_ticket(kind="fault", customer_id=1, summary="宽带没信号",
                                        details={"fault_type": "fault_broadband"})
    await run_action("action_create_fault_ticket", load_tracker(
        "selfhelp_denied", text=words, intent="fault_broadband", **VERIFIED))
    repository().chase_ticket(repair, OLD_NOTE)

    shown, images, errors = await asyncio.to_thread(browse_ledger, desk_url, repair)

    assert words in shown and load_rules().channel_names["rest"] in shown, shown
    assert OLD_NOTE in shown, shown
    assert images == 0 and not errors, errors
