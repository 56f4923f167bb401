"""The desk page's list of the self-help a customer was sent: by fault when two are in play, as the summary lists it,
each item a link to the entry's page and a button to send it again; a packet queued before items named their fault
(a flat list) is listed the same way.

The desk's page in a real Chromium, its real routes on a Sanic server over the real queue and the Redis tracker
store (the stand-in processor of test_desk_proof_ends). Found in review: with 电视和宽带都不行了 the summary listed
each fault's self-help under its name, but the page's own list was the titles alone, flat, none of them to
open.
"""
from __future__ import annotations

import shutil

import pytest
from sanic import Sanic

from bot.db.repository import Repository
from bot.handoff.accounts import AccountStore
from bot.handoff.desk import Desk
from bot.handoff.desk_view import pushed_selfhelp_key
from bot.handoff.queue import HandoffRequest
from bot.redis_text import as_text
from tests.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.handoff.test_desk_close_faults import waiting_for_a_person
from tests.handoff.test_desk_proof_ends import conversations, domain  # noqa: F401 - fixtures
from tests.sanic_served import served_desk

pytestmark = [pytest.mark.browser]

Sanic.test_mode = True  # a second app in the process (tests/handoff/test_audio_ranges.py)

TWO_FAULTS = {"faults_unfixed": ["fault_tv"], "fault_type": "fault_broadband"}
NO_SIGNAL, RESTART, MOSAIC = "电视显示“无信号”怎么办", "上不了网：重启光猫和路由器", "画面出现马赛克、卡顿"
NEW = [{"id": "tv_no_signal", "title": NO_SIGNAL, "answer": "failed", "fault_type": "fault_tv"},
       {"id": "bb_restart", "title": RESTART, "answer": "failed", "fault_type": "fault_broadband"},
       {"id": "tv_mosaic", "title": MOSAIC, "answer": None, "fault_type": "fault_tv"}]
TV, BROADBAND = "电视故障", "宽带故障"  # the faults' names on the desk (content/ui/agent_desk.zh.json)
OLD = [{key: value for key, value in item.items() if key != "fault_type"} for item in NEW]  # queued before faults


def shown_list(page_script_result: list[dict]) -> list[tuple[str | None, list[tuple[str, str | None]]]]:
    """Each list on the page as (its fault's heading or None, [(title, link)])."""
    return [(group["fault"], [(item["title"], item["href"]) for item in group["items"]]) for group in page_script_result]


SHOWN = """() => Array.from(document.querySelectorAll('#selfhelp-tried ul')).map(list => {
  const head = list.previousElementSibling;
  return {fault: head && head.tagName === 'H4' ? head.textContent : null,
          items: Array.from(list.querySelectorAll('li')).map(li => {
            const link = li.querySelector('a');
            return {title: link ? link.textContent : li.textContent, href: link ? link.getAttribute('href') : null};
          })};
})"""


@pytest.mark.parametrize("items", [NEW, OLD], ids=["faults-named", "queued-before-faults"])
async def test_the_self_help_tried_is_listed_by_fault_each_to_open_or_send_again(queue, clock, kefu_env, items,
                                                                               conversations):  # noqa: F811
    if not shutil.which(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium fonts-wqy-microhei)")
    from tests.playwright_start import async_playwright_started

    desk = Desk(queue, conversations, AccountStore(kefu_env.database_url), Repository(kefu_env.database_url))
    desk.accounts.add("wang", "wang-pass-1", ["general"], display_name="王芳", capacity=2)
    await waiting_for_a_person(conversations, "two-faults")
    await queue.enqueue(HandoffRequest("two-faults", "webchat", "general", 1, None,
                                       {"customer": {"name": "李娜"}, "slots": TWO_FAULTS, "selfhelp": items}))

    errors: list[str] = []
    async with served_desk(desk, "desk_selfhelp_page", page=True) as url, async_playwright_started() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
            page.on("pageerror", lambda error: errors.append(str(error)))
            await page.goto(f"{url}/agent/")
            await page.fill("#login-name", "wang")
            await page.fill("#login-password", "wang-pass-1")
            await page.click("#login-submit")
            await page.wait_for_selector("#desk:not([hidden])")  # the page's script is running
            await page.wait_for_function("() => document.querySelectorAll('#selfhelp-select option').length > 0")
            await page.click("#claim")
            await page.wait_for_selector("#conversation:not([hidden])")
            await page.wait_for_function("() => document.querySelectorAll('#selfhelp-tried li').length === 3")
            shown = shown_list(await page.evaluate(SHOWN))
            assert shown == [(TV, [(NO_SIGNAL, "/help/tv_no_signal"), (MOSAIC, "/help/tv_mosaic")]),
                             (BROADBAND, [(RESTART, "/help/bb_restart")])], shown
            summary = await page.locator("#summary").inner_text()

            await page.locator("#selfhelp-tried li", has_text="马赛克").get_by_role("button").click()  # 再次推送
            await page.wait_for_function(
                "() => Array.from(document.querySelectorAll('#selfhelp-tried li')).some("
                "li => li.textContent.indexOf('马赛克') >= 0 && li.textContent.indexOf('刚由您推送') >= 0)")
            after = shown_list(await page.evaluate(SHOWN))
        finally:
            await browser.close()

    assert f"【{TV}】{NO_SIGNAL}、{MOSAIC}；【{BROADBAND}】{RESTART}" in summary, "the page's list is the summary's"
    assert after == shown, "sent again: the same item, its answer now 'sent just now'"
    assert [as_text(v) for v in await queue.redis.lrange(pushed_selfhelp_key("two-faults"), 0, -1)] == ["tv_mosaic"]
    assert not errors, errors
