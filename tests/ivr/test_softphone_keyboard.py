"""The softphone without a pointer: keys from the keyboard during a call, and a focus outline that
forced-colours mode keeps (accessibility audit)."""
from __future__ import annotations

import pytest

from tests.ivr.softphone_browser import softphone_page
from voice.pcm import pcm_to_wav_bytes

pytestmark = [pytest.mark.slow, pytest.mark.browser]

FOCUS_OUTLINE = """() => { const s = getComputedStyle(document.activeElement);
    return {style: s.outlineStyle, width: parseFloat(s.outlineWidth), colour: s.outlineColor}; }"""


async def test_keys_typed_on_the_keyboard_reach_the_call(running_kefu, tmp_path, caller):
    silence = tmp_path / "silence.wav"
    silence.write_bytes(pcm_to_wav_bytes(b"\x00\x00" * 16000 * 30, 16000))
    async with softphone_page(running_kefu, str(silence), caller) as page:
        await page.click("#call")
        await page.wait_for_function("() => window.kefuPhone.marks.length > 0", timeout=60_000)  # the menu listens
        await page.evaluate("() => document.activeElement && document.activeElement.blur()")
        await page.keyboard.press("4")  # main menu: a voice message
        await page.wait_for_function("() => window.kefuPhone.marks.some(m => m.startsWith('leave_message'))",
                                     timeout=90_000)
        await page.keyboard.press("#")
        await page.keyboard.press("*")
        assert await page.evaluate("window.kefuPhone.keys") == ["4", "#", "*"]
        assert await page.inner_text("#digits") == "4#*"
        await page.click("#hangup")


async def test_focus_is_outlined_also_in_forced_colours(running_kefu, tmp_path, caller):
    silence = tmp_path / "silence.wav"
    silence.write_bytes(pcm_to_wav_bytes(b"\x00\x00" * 16000 * 2, 16000))
    async with softphone_page(running_kefu, str(silence), caller) as page:
        for forced in ("none", "active"):
            await page.emulate_media(forced_colors=forced)
            await page.focus("#caller")
            await page.keyboard.press("Tab")  # from the number field to the keypad, as a keyboard user goes
            assert await page.evaluate("() => document.activeElement.getAttribute('data-key')") == "1"
            outline = await page.evaluate(FOCUS_OUTLINE)
            assert outline["style"] == "solid" and outline["width"] >= 2, (forced, outline)
            assert outline["colour"] not in ("transparent", "rgba(0, 0, 0, 0)"), (forced, outline)
