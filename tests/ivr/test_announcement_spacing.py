"""Announcements to a caller waiting for an agent keep their distance (found by a phone tester: five
queue notices in 35 s, back to back). Playback driven directly, with a clock the test moves: the
hold audio stands for the line, marks for what was said."""
from __future__ import annotations

import asyncio
import time

import pytest

from bot.ivr.events import Say
from bot.ivr.playback import Playback
from voice.pcm import pcm_to_wav_bytes

HOLD = tuple(f"hold{i}" for i in range(25))  # stand-ins for base64 μ-law frames
GAP_S = 20.0


class Line:
    """What playback sent, as (kind, detail) in order."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def media(self, pcm: bytes) -> str:
        return "media:prompt"

    def media_payload(self, payload: str) -> str:
        return f"media:{payload}"

    def mark(self, name: str) -> str:
        return f"mark:{name}"

    def clear(self) -> str:
        return "clear:"

    async def send(self, frame: str) -> None:
        self.sent.append(tuple(frame.split(":", 1)))

    def marks(self) -> list[str]:
        return [detail for kind, detail in self.sent if kind == "mark" and detail != "hold"]

    def after(self, mark: str) -> list[tuple[str, str]]:
        return self.sent[self.sent.index(("mark", mark)) + 1:]


class Voice:
    """A prompt player whose every prompt is 0.1 s of sound."""

    def __init__(self) -> None:
        self.tts = self

    async def synthesize(self, text: str, sample_rate: int = 8000) -> bytes:
        return pcm_to_wav_bytes(b"\x10\x00" * (sample_rate // 10), sample_rate)

    async def audio(self, prompt_id: str, text: str, sample_rate: int = 8000) -> bytes:
        return await self.synthesize(text, sample_rate)


async def until(predicate, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


def notice(label: str, kind: str = "queue") -> Say:
    return Say(f"您目前排在第{label}位。", label=label, hold_notice=True, paced=kind)


@pytest.fixture
async def waiting():
    """(playback, line, clock) for a caller on hold with announcements GAP_S apart."""
    now = [1000.0]
    line = Line()
    playback = Playback(line.send, line, Voice(), clock=lambda: now[0])
    playback.space_announcements(GAP_S)
    playback.hold(HOLD)
    yield playback, line, now
    await playback.close()


def hold_frames_after(line: Line, mark: str) -> int:
    return sum(1 for kind, detail in line.after(mark) if kind == "media" and detail.startswith("hold"))


async def test_queue_notices_are_spaced_and_the_newest_replaces_those_held_back(waiting):
    playback, line, now = waiting
    playback.enqueue(notice("5"))
    await until(lambda: "5" in line.marks(), "the first notice")
    for label in ("4", "3", "2"):  # the queue moves fast: a notice a second
        playback.enqueue(notice(label))
    playback.enqueue(Say("已记下，客服接入后会看到。", label="noted", hold_notice=False))  # an answer: not held back
    await until(lambda: "noted" in line.marks(), "the answer to the caller")
    await until(lambda: hold_frames_after(line, "noted") >= 40, "hold audio after the answer")
    assert line.marks() == ["5", "noted"], "a notice came sooner than the gap after the previous one"
    now[0] += GAP_S - 1
    await until(lambda: hold_frames_after(line, "noted") >= 80, "more hold audio")
    assert line.marks() == ["5", "noted"]
    now[0] += 1
    await until(lambda: "2" in line.marks(), "the held-back notice once the gap has passed")
    assert line.marks() == ["5", "noted", "2"], "stale places were read out"
    between = line.after("noted")[:line.after("noted").index(("mark", "2"))]
    assert ("clear", "") in between, "the hold audio was not cleared for the notice"


async def test_a_held_back_reminder_survives_barge_in_and_goes_when_the_caller_stops_waiting(waiting):
    playback, line, now = waiting
    playback.enqueue(notice("3"))
    await until(lambda: "3" in line.marks(), "the notice")
    playback.enqueue(notice("hold:reminder", "reminder"))
    assert await playback.interrupt() is False, "barge-in interrupted an announcement that had not started"
    await until(lambda: hold_frames_after(line, "3") >= 40, "hold audio")
    now[0] += GAP_S
    await until(lambda: "hold:reminder" in line.marks(), "the reminder once due")
    playback.enqueue(notice("1"))
    playback.space_announcements(0.0)  # the caller left the queue: what was held back is moot
    await until(lambda: not playback.playing, "the queue to empty")
    assert line.marks() == ["3", "hold:reminder"]


async def test_with_no_gap_announcements_play_as_they_come(waiting):
    playback, line, _ = waiting
    playback.space_announcements(0.0)
    for label in ("3", "2"):
        playback.enqueue(notice(label))
    await until(lambda: "2" in line.marks(), "both notices")
    assert line.marks() == ["3", "2"]



async def test_a_notice_arriving_while_another_announcement_plays_survives_barge_in_and_waits_the_gap(waiting):
    """The transfer prompt is still playing when the first queue update arrives, and the caller talks
    over the prompt: the prompt stops, the update is kept and comes the gap after, not at once."""
    playback, line, now = waiting
    playback.enqueue(Say("正在为您转接人工客服，请稍候。" * 5, label="agent", hold_notice=True))
    await until(lambda: playback._current is not None, "the transfer prompt to start")
    playback.enqueue(notice("4"))
    assert await playback.interrupt() is True  # barge-in: the prompt playing is cut
    await until(lambda: hold_frames_after_clear(line) >= 40, "hold audio after the cut")
    assert line.marks() == [], "the update came straight after the cut prompt"
    now[0] += GAP_S
    await until(lambda: "4" in line.marks(), "the update once the gap has passed")


def hold_frames_after_clear(line: Line) -> int:
    cleared = line.sent.index(("clear", ""))
    return sum(1 for kind, detail in line.sent[cleared:] if kind == "media" and detail.startswith("hold"))
