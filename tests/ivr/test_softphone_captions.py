"""The softphone shows what a caller needs: the keys pressed, the call time, captions of what Kefu says."""
from __future__ import annotations

import pytest

from tests.ivr.conftest import ended
from tests.ivr.softphone_browser import softphone_page
from voice.pcm import pcm_to_wav_bytes

pytestmark = [pytest.mark.slow, pytest.mark.browser]


async def test_keys_before_calling_timer_and_captions(running_kefu, repository, tmp_path, caller):
    silence = tmp_path / "silence.wav"
    silence.write_bytes(pcm_to_wav_bytes(b"\x00\x00" * 16000 * 30, 16000))
    async with softphone_page(running_kefu, str(silence), caller) as page:
        await page.click(".keypad button[data-key='4']")  # before calling: leave a voice message
        assert await page.inner_text("#digits") == "4"
        await page.click("#call")
        await page.wait_for_function("() => window.kefuPhone.captions.length > 0", timeout=30_000)
        first = (await page.evaluate("window.kefuPhone.captions"))[0]
        assert "欢迎" in first and first in await page.inner_text("#captions")
        await page.wait_for_function("() => window.kefuPhone.marks.some(m => m.startsWith('leave_message'))",
                                     timeout=90_000)
        assert await page.evaluate("window.kefuPhone.seconds") >= 1
        assert await page.inner_text("#timer") != "00:00"
        await page.click("#hangup")
        phone = await page.evaluate("window.kefuPhone")
    record = await ended(repository, phone["streamSid"])
    assert "leave_message" in record["path"], record["path"]
