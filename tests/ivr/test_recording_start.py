"""A voice message the caller starts a moment before the beep is a message, not "nothing recorded".

Found by a tester: speech that began as the prompt ended (the beep came 0.4 s later, over it) was
never counted as heard, so 8 s later the caller, still talking, was told no message was recorded,
and a second try like it ended the call.
"""
from __future__ import annotations

from bot.ivr.call_audio import CallAudio, RecordingAudio
from tests.speech import spoken_on_the_phone

FRAME = 320  # 20 ms at 8 kHz, 16-bit


def feed(audio: CallAudio, pcm: bytes) -> list:
    events = []
    for index in range(0, len(pcm) - FRAME + 1, FRAME):
        events += audio.feed(pcm[index:index + FRAME])
    return events


def test_speech_already_under_way_when_recording_starts_is_recorded():
    message = spoken_on_the_phone("宽带上不了网 电视没信号 我想查话费")
    before_beep = int(0.6 * 8000) * 2 // FRAME * FRAME
    audio = CallAudio()
    audio.idle()  # the prompt is playing: nobody is listened to
    feed(audio, message[:before_beep])
    assert audio.in_speech, "the caller is talking when the beep ends"

    audio.start_recording(max_seconds=60, end_silence_s=2.0)
    [done] = [e for e in feed(audio, message[before_beep:] + b"\0" * (3 * 8000 * 2)) if isinstance(e, RecordingAudio)]

    assert done.heard_speech and done.finished_by == "silence"
    assert len(done.pcm) >= len(message) - before_beep, "the whole message after the beep is kept"


def test_a_recording_nobody_speaks_into_is_still_empty():
    audio = CallAudio()
    audio.start_recording(max_seconds=60, end_silence_s=2.0)
    [done] = [e for e in feed(audio, b"\0" * (9 * 8000 * 2)) if isinstance(e, RecordingAudio)]
    assert not done.heard_speech
