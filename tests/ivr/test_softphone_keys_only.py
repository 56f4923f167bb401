"""A caller whose microphone is refused still calls and uses the menus with the keypad (accessibility
audit: the call used to fail without a microphone)."""
from __future__ import annotations

import json

import pytest

from tests.conftest import PROJECT_ROOT
from tests.ivr.conftest import ended
from tests.ivr.softphone_browser import softphone_page

pytestmark = [pytest.mark.slow, pytest.mark.browser]

LABELS = json.loads((PROJECT_ROOT / "content/ui/softphone.zh.json").read_text(encoding="utf-8"))


async def test_refused_microphone_calls_in_keys_only_mode(running_kefu, repository, caller):
    async with softphone_page(running_kefu, None, caller) as page:
        # The page's words are the editors' (content/ui/softphone.zh.json), not written in its files.
        await page.wait_for_function("(title) => document.title === title", arg=LABELS["page_title"], timeout=30_000)
        assert await page.inner_text("#call") == LABELS["call"]
        assert await page.get_attribute("#caller", "placeholder") == LABELS["caller_placeholder"]
        assert await page.get_attribute(".keypad", "aria-label") == LABELS["keypad"]
        await page.click("#call")
        await page.wait_for_function("() => window.kefuPhone.status !== 'idle' && window.kefuPhone.status !== 'connecting'",
                                     timeout=30_000)
        status = await page.inner_text("#status")  # the live region says why and what still works
        assert await page.evaluate("window.kefuPhone.status") == "in_call", status
        assert status == LABELS["in_call_keys_only"], status
        assert await page.get_attribute("#status", "role") == "status"
        await page.wait_for_function("() => window.kefuPhone.captions.length > 0", timeout=30_000)
        assert "欢迎" in (await page.evaluate("window.kefuPhone.captions"))[0]
        await page.wait_for_function("() => window.kefuPhone.marks.length > 0", timeout=60_000)  # the menu listens
        greeted = len(await page.evaluate("window.kefuPhone.captions"))
        await page.click(".keypad button[data-key='4']")  # main menu: a voice message
        await page.wait_for_function("() => window.kefuPhone.marks.some(m => m.startsWith('leave_message'))",
                                     timeout=90_000)
        await page.wait_for_function(f"() => window.kefuPhone.captions.length > {greeted}", timeout=30_000)
        phone = await page.evaluate("window.kefuPhone")
        assert phone["framesOut"] > 0  # silence goes out in place of the voice, as a phone line's would
        await page.click("#hangup")
        assert await page.inner_text("#status") == LABELS["hung_up"]  # the page's words, from content/ui
    record = await ended(repository, phone["streamSid"])
    assert "leave_message" in record["path"], record["path"]
