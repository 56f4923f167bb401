"""One caller turn, recognised while it is being spoken.

The receive loop hands every frame of the turn to :meth:`StreamingTurn.push` (non-blocking);
a small task per turn feeds them, in order, to one recogniser stream on the process's decode
executor (:func:`voice.asr.decode_executor`). So when the caller stops, almost everything is
decoded already: ending the turn only flushes the stream (``final``), and the turn can end as
soon as the decoder has something to say instead of after the VAD's long hangover.
:attr:`hypothesis` and :attr:`endpoint` are what the end-of-turn rule reads
(:class:`bot.ivr.call_audio.CallAudio`).
"""
from __future__ import annotations

import asyncio
import logging
import time

from voice.asr import AsrEngine, Result, decode_executor
from voice.errors import VoiceError

logger = logging.getLogger(__name__)

_FLUSH = None  # queue sentinel: the turn is over, produce the final result


class StreamingTurn:
    """Feeds one recogniser stream in the background; ``result()`` ends the turn."""

    def __init__(self, asr: AsrEngine | None, sample_rate: int, phrases: tuple[str, ...] = ()) -> None:
        self.asr = asr
        self.sample_rate = sample_rate
        self.phrases = list(phrases) or None
        self.hypothesis = ""  # the recogniser's current words for the turn
        self.endpoint = False  # the recogniser closed an utterance that has words (Vosk's rules)
        self.seconds = 0.0  # audio pushed so far
        self.decode_seconds = 0.0  # time spent in the recogniser (for the real-time factor)
        self.audio = bytearray()  # the turn's PCM: kept for the agent when no words come of it
        self._chunks: asyncio.Queue = asyncio.Queue()
        self._task = asyncio.create_task(self._decode(), name="ivr-asr-turn")

    def push(self, pcm: bytes) -> None:
        self.seconds += len(pcm) / 2 / self.sample_rate
        self.audio += pcm
        self._chunks.put_nowait(pcm)

    async def result(self) -> Result:
        """Everything recognised in the turn; an empty Result when recognition failed."""
        self._chunks.put_nowait(_FLUSH)
        return await self._task

    def cancel(self) -> None:
        self._task.cancel()

    async def _decode(self) -> Result:
        if self.asr is None:
            await self._drain_until_flush()
            return Result(text="", confidence=0.0)
        loop = asyncio.get_running_loop()
        flushed = False  # the turn's end was taken from the queue: nothing more to drain
        try:
            stream = await loop.run_in_executor(decode_executor(), self.asr.new_stream, self.sample_rate,
                                                self.phrases)
            while True:
                pcm, flushed = await self._next_batch()
                if pcm:
                    started = time.monotonic()
                    partial = await loop.run_in_executor(decode_executor(), stream.accept, pcm)
                    self.decode_seconds += time.monotonic() - started
                    if partial is not None:
                        self.hypothesis = partial.text
                        # An endpoint holds until new words come: a caller who goes on after one
                        # (an unfinished start, bot.ivr.call_audio) has not finished at it.
                        self.endpoint = partial.endpoint and bool(partial.text)
                if flushed:
                    return await loop.run_in_executor(decode_executor(), stream.final)
        except VoiceError as exc:
            logger.warning("ivr.asr.failed error=%s", exc)
        except Exception:  # a custom engine's own error (KEFU_IVR_ASR_ENGINE): the caller is asked again
            logger.exception("ivr.asr.failed engine=%s", type(self.asr).__name__)
        if not flushed:  # found in review: waiting for an end already taken hung the turn for good
            await self._drain_until_flush()
        return Result(text="", confidence=0.0)

    async def _next_batch(self) -> tuple[bytes, bool]:
        """All audio queued so far, in one piece (a slow decode catches up in one step)."""
        chunks = [await self._chunks.get()]
        while not self._chunks.empty():
            chunks.append(self._chunks.get_nowait())
        flush = _FLUSH in chunks
        return b"".join(c for c in chunks if c is not _FLUSH), flush

    async def _drain_until_flush(self) -> None:
        while await self._chunks.get() is not _FLUSH:
            pass
