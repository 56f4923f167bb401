"""A page test whose Playwright driver died at its start still gets its page (tests/playwright_start.py).

The driver's first start dies, as one does when tests/stuck_spawn_watchdog.py ends its spawn before exec:
Playwright's own node is started through a script that kills itself the first time. Dying at once, before Playwright
writes, fails the write (uvloop's "the handler is closed"); dying once Playwright has written fails the read
(Playwright's "Connection closed while reading from the driver"). Both are started again."""
from __future__ import annotations

import shutil

import pytest
from playwright._impl._driver import compute_driver_executable

from tests.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.playwright_start import async_playwright_started, sync_playwright_started

pytestmark = pytest.mark.browser
PAGE = "<p>您好</p>"


DIES = {"at once": "", "after Playwright wrote": "head -c 1 > /dev/null; "}


@pytest.fixture(params=list(DIES))
def driver_dies_at_first_start(request, tmp_path, monkeypatch):
    """Each start of the driver counted in the returned file; the first one dies before it says anything."""
    if not shutil.which(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium fonts-wqy-microhei)")
    node, _cli = compute_driver_executable()
    starts = tmp_path / "starts"
    script = tmp_path / "node"
    first_dies = f'if [ "$(wc -l < "{starts}")" -eq 1 ]; then {DIES[request.param]}kill -9 $$; fi'
    script.write_text(f'#!/bin/sh\necho start >> "{starts}"\n{first_dies}\nexec "{node}" "$@"\n')
    script.chmod(0o755)
    monkeypatch.setenv("PLAYWRIGHT_NODEJS_PATH", str(script))
    return starts


async def test_an_async_page_test_gets_its_page_after_the_driver_died(driver_dies_at_first_start):
    async with async_playwright_started() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await browser.new_page()
        await page.set_content(PAGE)
        shown = await page.inner_text("p")
        await browser.close()
    assert shown == "您好"
    assert driver_dies_at_first_start.read_text().count("start") == 2


def test_a_page_test_gets_its_page_after_the_driver_died(driver_dies_at_first_start):
    with sync_playwright_started() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.set_content(PAGE)
        shown = page.inner_text("p")
        browser.close()
    assert shown == "您好"
    assert driver_dies_at_first_start.read_text().count("start") == 2
