"""接入下一位 on the desk page whose answer never arrives: pressed again, the agent gets the customer the first
press took, not a second one.

The desk's page in a real Chromium, its real routes on a Sanic server over the real queue and the Redis tracker
store (the stand-in processor of test_desk_proof_ends). The reply is lost for real: the browser's request
reaches the server, which claims the customer, and the connection is reset before the page reads the answer
(as a network cut or a proxy's timeout does).

Found in review: the page's second press took a second customer; both showed in 我正在服务, and the first,
never shown to the agent, was never told an agent had them.
"""
from __future__ import annotations

import shutil

import pytest
from sanic import Sanic

from bot.db.repository import Repository
from bot.handoff.accounts import AccountStore
from bot.handoff.desk import Desk
from bot.handoff.queue import HandoffRequest
from tests.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.handoff.test_desk_close_faults import waiting_for_a_person
from tests.handoff.test_desk_proof_ends import conversations, domain  # noqa: F401 - fixtures
from tests.sanic_served import served_desk

pytestmark = [pytest.mark.browser]

Sanic.test_mode = True  # a second app in the process (tests/handoff/test_audio_ranges.py)


async def test_a_claim_pressed_again_after_its_answer_was_lost_shows_the_same_customer(queue, clock, kefu_env,
                                                                                      conversations):  # noqa: F811
    if not shutil.which(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium fonts-wqy-microhei)")
    from tests.playwright_start import async_playwright_started

    desk = Desk(queue, conversations, AccountStore(kefu_env.database_url), Repository(kefu_env.database_url))
    desk.accounts.add("wang", "wang-pass-1", ["billing"], display_name="王芳", capacity=2)
    for conversation_id, name in (("retry-page-a", "李娜"), ("retry-page-b", "张伟")):
        await waiting_for_a_person(conversations, conversation_id)
        await queue.enqueue(HandoffRequest(conversation_id, "webchat", "billing", 1, None,
                                           {"customer": {"name": name}}))
        clock.advance(1)

    errors: list[str] = []
    lost: list = []

    async def the_first_answer_is_lost(route):
        if lost:
            await route.continue_()
            return
        lost.append(await route.fetch())  # the server claims a customer...
        await route.abort("connectionreset")  # ...and the page never reads its answer

    async with served_desk(desk, "desk_claim_retry_page", page=True) as url, async_playwright_started() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
            page.on("pageerror", lambda error: errors.append(str(error)))
            await page.goto(f"{url}/agent/")
            await page.fill("#login-name", "wang")
            await page.fill("#login-password", "wang-pass-1")
            await page.click("#login-submit")
            await page.wait_for_selector("#desk:not([hidden])")
            await page.route("**/agent/api/claim", the_first_answer_is_lost)

            await page.click("#claim")
            await page.wait_for_function("() => document.getElementById('desk-error').textContent !== ''")
            assert lost and lost[0].status == 200, "the first press did claim a customer"
            assert await queue.serving("wang") == ["retry-page-a"]

            await page.click("#claim")  # the agent presses again
            await page.wait_for_selector("#conversation:not([hidden])")
            await page.wait_for_function("() => document.querySelectorAll('#serving li').length > 0")
            shown = await page.locator("#conversation").inner_text()
            serving = await page.locator("#serving li").all_inner_texts()
        finally:
            await browser.close()

    assert await queue.serving("wang") == ["retry-page-a"], "one customer taken, not two"
    assert await queue.waiting("billing") == ["retry-page-b"]
    assert "李娜" in shown and "张伟" not in shown
    assert len(serving) == 1 and "李娜" in serving[0], serving
    assert not errors, errors
