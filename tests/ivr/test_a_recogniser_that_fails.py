"""A custom recogniser (``KEFU_IVR_ASR_ENGINE``) that fails with its own error, not Kefu's VoiceError.

Found in review: the turn's result raised, so no words reached the call's engine and the caller heard
nothing more; a failing load stopped the phone channel from starting. Now the turn counts as not
understood (the caller is asked again) and a failing load leaves the line on keys, as with no model.
"""
from __future__ import annotations

import asyncio
import logging

import pytest

from bot.ivr.asr_factory import load_asr_engine
from bot.ivr.speech_turn import StreamingTurn
from voice.errors import VoiceError


class BrokenStream:
    error: Exception = RuntimeError("the vendor SDK lost its licence server")

    def accept(self, pcm: bytes):
        raise self.error

    def final(self):
        raise AssertionError("never reached")


class BrokenRecogniser:
    def new_stream(self, sample_rate, phrases=None):
        return BrokenStream()


class FailingVoskLikeStream(BrokenStream):
    error = VoiceError("decoder failed")


class FailingVoskLikeRecogniser:
    def new_stream(self, sample_rate, phrases=None):
        return FailingVoskLikeStream()


class UnloadableRecogniser:
    def load(self) -> None:
        raise RuntimeError("model file is corrupt")


@pytest.mark.parametrize("recogniser,logged", [(BrokenRecogniser, "licence server"),
                                                 (FailingVoskLikeRecogniser, "decoder failed")])
async def test_a_turn_whose_recogniser_fails_is_not_understood_and_says_why(caplog, recogniser, logged):
    """Also Kefu's own VoiceError when the failing audio was the turn's last: the turn then waited for
    an end it had already taken, and the caller heard nothing more."""
    turn = StreamingTurn(recogniser(), 8000)
    turn.push(b"\x01\x00" * 1600)  # the turn ends before the decoder has read it: one batch with the end
    with caplog.at_level(logging.WARNING, logger="bot.ivr.speech_turn"):
        result = await asyncio.wait_for(turn.result(), 30)  # a failure here, not a hung suite
    assert (result.text, result.confidence) == ("", 0.0)
    assert logged in caplog.text


async def test_a_recogniser_that_cannot_load_leaves_the_line_on_keys(caplog):
    with caplog.at_level(logging.ERROR, logger="bot.ivr.asr_factory"):
        assert await load_asr_engine(f"{__name__}:UnloadableRecogniser", None) is None
    assert "model file is corrupt" in caplog.text
