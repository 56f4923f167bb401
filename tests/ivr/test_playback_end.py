"""A caller hanging up while on hold ends the playback quietly; a real fault is still an error.

Found by a tester: hanging up normally while on hold was logged as ``ivr.playback.crashed`` (an error
with a traceback): the hold audio's next frame went to a socket the caller had just closed (Sanic
raises its own ``WebsocketClosed`` there). Driven with the channel's real sender over a socket that
closes, and the log records checked.
"""
from __future__ import annotations

import asyncio
import logging

import pytest

from bot.channels.ivr import line_sender
from bot.ivr.playback import Playback
from tests.ivr.test_announcement_spacing import HOLD, Line, Voice


class ClosingSocket:
    """A Sanic websocket that takes ``frames`` frames, then behaves as closed by the far end."""

    def __init__(self, frames: int, error: Exception) -> None:
        self.frames = frames
        self.error = error
        self.sent: list[str] = []

    async def send(self, frame: str) -> None:
        if len(self.sent) >= self.frames:
            raise self.error
        self.sent.append(frame)


def sanic_closed() -> Exception:
    from sanic.exceptions import WebsocketClosed

    return WebsocketClosed("Cannot write to websocket interface after it is closed.")


async def hold_until_the_line_fails(socket: ClosingSocket) -> Playback:
    playback = Playback(line_sender(socket), Line(), Voice())
    ended = asyncio.Event()
    playback._task.add_done_callback(lambda _: ended.set())  # after the playback's own (the crash log)
    playback.hold(HOLD)
    try:
        await asyncio.wait_for(ended.wait(), 10)
    except asyncio.TimeoutError:
        raise AssertionError("the playback went on sending to a closed socket") from None
    return playback


@pytest.mark.parametrize("error", [sanic_closed, lambda: ConnectionResetError(104, "reset by peer")],
                         ids=["sanic-closed", "connection-reset"])
async def test_a_hang_up_during_hold_audio_is_no_crash(caplog, error):
    caplog.set_level(logging.INFO, logger="bot.ivr")
    playback = await hold_until_the_line_fails(ClosingSocket(10, error()))
    await playback.close()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    [ended] = [r for r in caplog.records if r.getMessage().startswith("ivr.playback.line_closed")]
    assert ended.levelno == logging.INFO


async def test_a_fault_while_sending_is_still_an_error(caplog):
    caplog.set_level(logging.INFO, logger="bot.ivr")
    playback = await hold_until_the_line_fails(ClosingSocket(10, RuntimeError("a bug")))
    await playback.close()
    [crash] = [r for r in caplog.records if r.getMessage() == "ivr.playback.crashed"]
    assert crash.levelno == logging.ERROR and crash.exc_info is not None
