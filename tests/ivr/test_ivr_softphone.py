"""The browser softphone in a real Chromium: fake microphone fed a real recording, keypad, voicemail."""
from __future__ import annotations

import pytest

from tests.conftest import SHARED_SPEECH
from tests.ivr.conftest import ended, new_voice_message, stored_voice_messages, voice_message_audio
from tests.ivr.softphone_browser import softphone_page
from voice.audio import decode_file
from voice.pcm import pcm_to_wav_bytes, read_wav, rms_dbfs
from voice.vad import find_speech_span

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CLIP = "aishell1_BAC009S0764W0122.wav"
LEAD_S, TAIL_S = 10.0, 14.0  # silence around the clip: the voicemail beep comes well before it


def fake_microphone(tmp_path) -> tuple[str, bytes]:
    """The clip padded with silence, as the 16 kHz mono WAV Chromium's fake capture wants."""
    clip = decode_file(SHARED_SPEECH / CLIP, target_rate=16000).samples
    padded = b"\x00" * int(LEAD_S * 16000) * 2 + clip + b"\x00" * int(TAIL_S * 16000) * 2
    path = tmp_path / "microphone.wav"
    path.write_bytes(pcm_to_wav_bytes(padded, 16000))
    return str(path), clip


async def test_softphone_leaves_a_voicemail(running_kefu, repository, tmp_path, caller):
    if not (SHARED_SPEECH / CLIP).is_file():
        pytest.skip(f"clip {CLIP} missing from {SHARED_SPEECH}")

    microphone, clip = fake_microphone(tmp_path)
    before = await stored_voice_messages(repository)
    async with softphone_page(running_kefu, microphone, caller) as page:
        await page.click("#call")
        await page.wait_for_function("() => window.kefuPhone.framesIn > 0", timeout=30_000)
        await page.click(".keypad button[data-key='4']")
        await page.wait_for_function("() => window.kefuPhone.marks.includes('leave_message:confirm')", timeout=90_000)
        await page.click(".keypad button[data-key='1']")
        await page.wait_for_function("() => window.kefuPhone.status === 'ended'", timeout=60_000)
        phone = await page.evaluate("window.kefuPhone")
    assert phone["clears"] >= 1 and phone["framesOut"] > 500
    record = await ended(repository, phone["streamSid"])
    assert record["path"][-3:] == ["main_menu", "leave_message", "goodbye"], record["path"]
    message = await new_voice_message(repository, before)
    assert message["caller_phone"] == ""  # the softphone's number is typed, not vouched for: nobody's
    stored = read_wav(voice_message_audio(repository, message))
    span, clip_span = find_speech_span(stored.samples, stored.sample_rate), find_speech_span(clip, 16000)
    assert span, "the stored voice message has no speech in it"
    assert abs((span[1] - span[0]) - (clip_span[1] - clip_span[0])) < 0.5
    rate = stored.sample_rate
    level = rms_dbfs(stored.samples[int(span[0] * rate) * 2:int(span[1] * rate) * 2])
    clip_level = rms_dbfs(clip[int(clip_span[0] * 16000) * 2:int(clip_span[1] * 16000) * 2])
    assert abs(level - clip_level) < 4, f"stored {level:.1f} dBFS, clip {clip_level:.1f} dBFS"


