"""Streaming turns with the real Vosk test model: recognised while spoken, ended without the long pause.

The caller's line is simulated at its real pace (one 20 ms frame per 20 ms), because when a
turn may end depends on how far the decoder has got while the caller was still talking.
"""
from __future__ import annotations

import asyncio

import pytest

from bot.ivr.call_audio import PHONE_VAD, QUICK_END_FREE_S, QUICK_END_S, CallAudio, SpeechBegan, TurnEnded
from bot.ivr.speech_turn import StreamingTurn
from tests.speech import spoken_on_the_phone
from voice.vad import find_speech_span
from voice.vosk_engine import VoskEngine

pytestmark = pytest.mark.realtime

FRAME = 320
MENU = ("话费", "留言", "人工")


@pytest.fixture(scope="module")
def engine() -> VoskEngine:
    engine = VoskEngine.from_settings()
    engine.load()
    return engine


async def say_on_the_line(audio: CallAudio, pcm: bytes, silence_s: float = 1.5) -> tuple[list, float | None]:
    """Feed ``pcm`` then silence in real time; (events, seconds of line audio when the turn ended)."""
    pcm += b"\0" * (int(silence_s * 8000) * 2)
    events, ended_at = [], None
    started = asyncio.get_running_loop().time()
    for index in range(len(pcm) // FRAME):
        for event in audio.feed(pcm[index * FRAME:(index + 1) * FRAME]):
            events.append(event)
            if isinstance(event, TurnEnded) and ended_at is None:
                ended_at = audio.seconds
        await asyncio.sleep(max(0.0, started + (index + 1) * 0.02 - asyncio.get_running_loop().time()))
    return events, ended_at


@pytest.mark.parametrize("sentence,phrases,expected", [
    ("我想查话费", MENU, "话费"),  # a spoken menu choice, in the menu's grammar
    ("宽带上不了网", (), "宽带上不了网"),  # free speech for the assistant
])
async def test_turn_is_recognised_while_spoken_and_ends_soon_after_speech(engine, sentence, phrases, expected):
    pcm = spoken_on_the_phone(sentence)
    speech_end = find_speech_span(pcm, 8000, PHONE_VAD)[1]
    audio = CallAudio()
    audio.listen(lambda: StreamingTurn(engine, 8000, phrases))

    events, ended_at = await say_on_the_line(audio, pcm)

    [began] = [e for e in events if isinstance(e, SpeechBegan)]
    [ended] = [e for e in events if isinstance(e, TurnEnded)]
    assert began.at < speech_end
    assert ended.why in ("asr_endpoint", "quick_silence")
    # Ended by the quick rule, well before the VAD alone would have (end_ms of silence).
    quick_end = QUICK_END_S if phrases else QUICK_END_FREE_S
    assert ended_at - speech_end <= quick_end + 0.1 < PHONE_VAD.end_ms / 1000
    result = await ended.turn.result()
    assert result.text == expected and result.confidence > 0.5


async def test_sound_the_recogniser_cannot_place_waits_for_the_vad(engine):
    """Speech outside a grammar gives no words: the turn ends on the VAD's full pause, empty."""
    pcm = spoken_on_the_phone("电视没信号")
    speech_end = find_speech_span(pcm, 8000, PHONE_VAD)[1]
    audio = CallAudio()
    audio.listen(lambda: StreamingTurn(engine, 8000, ("是的", "不是")))

    events, ended_at = await say_on_the_line(audio, pcm)

    [ended] = [e for e in events if isinstance(e, TurnEnded)]
    assert (await ended.turn.result()).text == ""
    assert ended.why == "vad_silence" and ended_at - speech_end >= PHONE_VAD.end_ms / 1000 - 0.1


async def test_leaving_listen_mode_cancels_the_turn(engine):
    audio = CallAudio()
    audio.listen(lambda: StreamingTurn(engine, 8000, MENU))
    pcm = spoken_on_the_phone("我想查话费")
    for index in range(30):
        audio.feed(pcm[index * FRAME:(index + 1) * FRAME])
    turn = audio._turn
    assert turn is not None
    audio.idle()
    with pytest.raises(asyncio.CancelledError):
        await turn.result()


async def test_a_short_pause_inside_free_speech_does_not_split_the_turn(engine):
    def trimmed(text: str) -> bytes:
        pcm = spoken_on_the_phone(text)
        start, end = find_speech_span(pcm, 8000, PHONE_VAD)
        return pcm[int(start * 8000) * 2:int(end * 8000) * 2]

    pause = b"\0" * (int((QUICK_END_FREE_S - 0.1) * 8000) * 2)  # a breath, shorter than the turn's end
    audio = CallAudio()
    audio.listen(lambda: StreamingTurn(engine, 8000, ()))

    events, _ = await say_on_the_line(audio, trimmed("宽带") + pause + trimmed("上不了网"))

    ended = [e for e in events if isinstance(e, TurnEnded)]
    assert [(await e.turn.result()).text for e in ended] == ["宽带上不了网"]


@pytest.mark.parametrize("pause_s", [
    0.35,  # past the free-speech quick end, inside the VAD's end_ms: the turn ends mid-pause
    0.55,
    1.0,  # past the VAD's end of speech too
])
async def test_speech_resumed_after_a_pause_is_never_lost(engine, pause_s):
    """A caller stops long enough for the turn to end, then goes on: the rest is heard too."""
    def trimmed(text: str) -> bytes:
        pcm = spoken_on_the_phone(text)
        start, end = find_speech_span(pcm, 8000, PHONE_VAD)
        return pcm[int(start * 8000) * 2:int(end * 8000) * 2]

    pause = b"\0" * (int(pause_s * 8000) * 2)
    audio = CallAudio()
    audio.listen(lambda: StreamingTurn(engine, 8000, ()))

    events, _ = await say_on_the_line(audio, trimmed("宽带") + pause + trimmed("上不了网"))

    texts = [(await e.turn.result()).text for e in events if isinstance(e, TurnEnded)]
    assert "".join(texts) == "宽带上不了网", texts


@pytest.mark.parametrize("pause_s", [1.0, 1.5])
async def test_an_unfinished_start_waits_for_the_rest_of_the_sentence(engine, pause_s):
    """Found by an accessibility audit: "我想 … (1 s) … 查一下话费" was two turns, the first answered
    "没听清楚". With the hotline's own settings the hesitation is one turn, heard whole."""
    from pathlib import Path

    from bot.ivr.config import load_hotline_config

    hotline = load_hotline_config(Path(__file__).resolve().parents[2] / "content" / "ivr.yml")

    def trimmed(text: str) -> bytes:
        pcm = spoken_on_the_phone(text)
        start, end = find_speech_span(pcm, 8000, PHONE_VAD)
        return pcm[int(start * 8000) * 2:int(end * 8000) * 2]

    audio = CallAudio(quick_end_s=hotline.end_of_turn_menu_s, quick_end_free_s=hotline.end_of_turn_free_s,
                      unfinished_starts=hotline.unfinished_starts, unfinished_wait_s=hotline.unfinished_wait_s)
    audio.listen(lambda: StreamingTurn(engine, 8000, ()))

    pause = b"\0" * (int(pause_s * 8000) * 2)
    events, _ = await say_on_the_line(audio, trimmed("我想") + pause + trimmed("查一下话费"),
                                      silence_s=hotline.unfinished_wait_s + 0.5)

    texts = [(await e.turn.result()).text for e in events if isinstance(e, TurnEnded)]
    assert texts == ["我想查一下话费"], texts


async def test_an_unfinished_start_alone_still_ends_the_turn(engine):
    """A caller who says only "我想" and stops is answered after the longer wait, not left hanging."""
    from pathlib import Path

    from bot.ivr.config import load_hotline_config

    hotline = load_hotline_config(Path(__file__).resolve().parents[2] / "content" / "ivr.yml")
    audio = CallAudio(unfinished_starts=hotline.unfinished_starts, unfinished_wait_s=hotline.unfinished_wait_s)
    audio.listen(lambda: StreamingTurn(engine, 8000, ()))

    events, _ = await say_on_the_line(audio, spoken_on_the_phone("我想"), silence_s=hotline.unfinished_wait_s + 0.5)

    ended = [e for e in events if isinstance(e, TurnEnded)]
    assert [e.why for e in ended] == ["unfinished_silence"]
    assert (await ended[0].turn.result()).text == "我想"


def line_noise(seconds: float, level: int = 1500) -> bytes:
    """A noisy line's hiss (seeded): the VAD takes it for speech, the recogniser makes no words of it."""
    import random
    import struct

    rnd = random.Random(7)
    return b"".join(struct.pack("<h", max(-32768, min(32767, int(rnd.gauss(0, level)))))
                    for _ in range(int(seconds * 8000)))


async def test_an_unfinished_start_on_a_noisy_line_ends_when_no_words_follow(engine):
    """Found in review: "我想" and then only the line's hiss waited for the length cap (15 s): the hiss
    kept the VAD in speech, so the wait for silence never ended. No new word for as long ends it too."""
    from pathlib import Path

    from bot.ivr.config import load_hotline_config

    hotline = load_hotline_config(Path(__file__).resolve().parents[2] / "content" / "ivr.yml")
    pcm = spoken_on_the_phone("我想")
    speech_end = find_speech_span(pcm, 8000, PHONE_VAD)[1]
    audio = CallAudio(unfinished_starts=hotline.unfinished_starts, unfinished_wait_s=hotline.unfinished_wait_s)
    audio.listen(lambda: StreamingTurn(engine, 8000, ()))

    events, ended_at = await say_on_the_line(audio, pcm[:int(speech_end * 8000) * 2]
                                             + line_noise(hotline.unfinished_wait_s + 3), silence_s=0)

    ended = [e for e in events if isinstance(e, TurnEnded)]
    assert ended and ended[0].why == "unfinished_silence"
    assert ended_at - speech_end <= hotline.unfinished_wait_s + 0.5 < audio.max_utterance_s
    assert (await ended[0].turn.result()).text == "我想"
