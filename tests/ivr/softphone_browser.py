"""The browser softphone in a real Chromium whose microphone plays a WAV file (or is refused), signed in
as a caller."""
from __future__ import annotations

import os
from contextlib import asynccontextmanager

import pytest

from tests.conftest import CHROMIUM, CHROMIUM_ARGS


@asynccontextmanager
async def softphone_page(stack, microphone_wav: str | None, caller: str):
    """The softphone page of ``stack`` (main flow) with ``caller`` filled in; the browser closes after.

    ``microphone_wav`` None: the browser has a microphone but the person refuses it (no permission is
    granted, so getUserMedia is denied as when they click Block)."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium fonts-wqy-microhei)")
    from tests.playwright_start import async_playwright_started

    args = CHROMIUM_ARGS + ["--use-fake-device-for-media-stream", "--autoplay-policy=no-user-gesture-required"]
    if microphone_wav is not None:
        args += ["--use-fake-ui-for-media-stream", f"--use-file-for-fake-audio-capture={microphone_wav}"]
    async with async_playwright_started() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            # The page's own CSP stays on: the tests wait with function-form predicates, which it allows
            # (a bare expression is evaluated with eval, which script-src without 'unsafe-eval' refuses).
            page = await browser.new_page()
            await page.goto(f"{stack.settings.rasa_url}/ivr/phone/?flow=main")
            await page.fill("#caller", caller)
            await page.press("#caller", "Tab")  # as a person moves on: the page listens for the number
            # Until the page listens for this number it listens for every one, and a call another test
            # left ringing rang here: the incoming panel opened above the keypad, and a click landed on
            # what it pushed there (seen as a key press that never reached the page).
            await page.wait_for_function("(number) => document.getElementById('listening').textContent"
                                         ".includes(number)", arg=caller, timeout=30_000)
            yield page
        finally:
            await browser.close()
