"""Bot audio to the caller: prompts synthesised (or recorded), streamed in 20 ms frames, in real time.

Frames are paced to the clock (a couple of frames ahead), so stopping a prompt is a matter of
not sending the next frame: :meth:`Playback.interrupt` marks the current prompt cancelled and
sends ``clear`` under the same lock every frame is sent under — once ``clear`` is out, no frame
of the interrupted prompts follows it. Each prompt ends with a mark named after its label.
Synthesis of queued prompts starts as soon as they are queued, so the next one is ready; a
synthesised reply (no recorded prompt) is queued sentence by sentence, so its first sentence
plays while the rest is still being synthesised.

Hold audio (:meth:`Playback.hold`) fills the gaps while a caller waits for an agent: pre-encoded
frames looped whenever no prompt is playing, paced like prompts, with a ``hold`` mark after each
pass. A prompt queued meanwhile is synthesised while the hold audio goes on; once it is ready,
``clear`` drops the hold frames the far end buffered and the prompt plays, then the loop resumes
where it stopped. Turning hold off (or closing) stops it before the next frame.

Announcements to a waiting caller (``Say.paced``) are kept apart (:mod:`bot.ivr.announcements`):
one due too soon after the previous stays queued, behind whatever else is to be said, while the
hold audio goes on; a newer one of the same kind replaces it, and barge-in does not drop it.
"""
from __future__ import annotations

import asyncio
import logging
import dataclasses
import math
import re
import struct
import time
from typing import Awaitable, Callable

from bot.ivr.announcements import AnnouncementSpacing
from bot.ivr.errors import LineClosed
from bot.ivr.events import Beep, Say
from voice.errors import VoiceError
from voice.pcm import PHONE_FRAME_MS, PHONE_RATE, SAMPLE_WIDTH, frame_bytes, read_wav
from voice.prompts import PromptPlayer

logger = logging.getLogger(__name__)

FRAME_S = PHONE_FRAME_MS / 1000
LEAD_FRAMES = 2  # frames sent ahead of real time, to keep the far end's jitter buffer fed
_FRAME = frame_bytes(PHONE_RATE, PHONE_FRAME_MS)
HOLD_MARK = "hold"  # sent after each full pass of the hold audio
_SENTENCE_END = re.compile(r"(?<=[。！？!?；;])")


def _line_gone_errors() -> tuple[type[BaseException], ...]:
    """What a send raises when the far end has gone: a hang-up, not a bug (found by a tester: a caller
    hanging up on hold was logged as ``ivr.playback.crashed``, an error with a traceback)."""
    from websockets.exceptions import ConnectionClosed

    return (LineClosed, ConnectionError, ConnectionClosed)


LINE_GONE = _line_gone_errors()


def sentences(text: str) -> list[str]:
    """``text`` cut after each sentence-ending mark; pieces without speakable text join the last.
    Each piece is trimmed: it is a caption too, and one starting with the line break after the mark
    ("…元。\n最近账单：") showed as an empty line on the softphone (found in review)."""
    pieces: list[str] = []
    for piece in _SENTENCE_END.split(text):
        if pieces and not re.search(r"\w", piece):
            pieces[-1] += piece
        elif piece.strip():
            pieces.append(piece)
    return [piece.strip() for piece in pieces]


def beep_pcm(seconds: float = 0.4, hz: float = 1000.0, level: float = 0.3) -> bytes:
    count = int(PHONE_RATE * seconds)
    amplitude = int(32767 * level)
    return struct.pack(f"<{count}h", *(int(amplitude * math.sin(2 * math.pi * hz * i / PHONE_RATE))
                                       for i in range(count)))


class _Item:
    def __init__(self, command, audio: asyncio.Task, batch: int) -> None:
        self.command = command
        self.audio = audio
        self.batch = batch  # the engine answer it belongs to: a paced announcement's sentences play together
        self.label = getattr(command, "label", "") or ""
        self.barge_in = getattr(command, "barge_in", True)
        self.hold_notice = getattr(command, "hold_notice", False)
        self.paced = getattr(command, "paced", "")


class Playback:
    """The outbound half of a call. ``send`` writes one text frame to the provider."""

    def __init__(self, send: Callable[[str], Awaitable[None]], serializer, player: PromptPlayer,
                 on_first_audio: Callable[[], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._send = send
        self.serializer = serializer
        self.player = player
        self.lock = asyncio.Lock()
        self._queue: list[_Item] = []
        self._current: _Item | None = None
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._cancelled = False
        self._closed = False
        self.on_first_audio = on_first_audio
        self.frames_sent = 0
        self._hold: tuple[str, ...] | None = None  # base64 μ-law frames looped between prompts
        self._hold_at = 0
        self.spacing = AnnouncementSpacing(clock)
        self._batches = 0
        self._playing_batch: int | None = None  # the batch of the item playing (or last played)
        self._task = asyncio.create_task(self._run(), name="ivr-playback")
        self._task.add_done_callback(_log_crash)

    # -- control -------------------------------------------------------------------------
    def new_batch(self) -> int:
        """A batch number for the commands of one engine answer (see :meth:`enqueue`)."""
        self._batches += 1
        return self._batches

    def enqueue(self, command, batch: int | None = None) -> None:
        """Queue a prompt. A paced announcement's sentences start together once the announcement may:
        pass the same ``batch`` for the Says of one engine answer (None: a batch of its own)."""
        if isinstance(command, Say) and not command.text.strip():
            return
        batch = self.new_batch() if batch is None else batch
        if isinstance(command, Say) and command.paced and self.spacing.gap_s > 0:
            self._drop([item for item in self._queue if item.paced == command.paced and item.batch != batch
                        and item.batch != self._playing_batch])  # superseded: only the newest is said
        if isinstance(command, Say) and not command.prompt_id:
            *first, last = sentences(command.text.strip()) or [command.text]
            for text in first:  # the mark goes after the last sentence only
                self._append(dataclasses.replace(command, text=text, label=""), batch)
            command = dataclasses.replace(command, text=last)
        self._append(command, batch)

    def _append(self, command, batch: int) -> None:
        self._queue.append(_Item(command, asyncio.create_task(self._audio(command)), batch))
        self._idle.clear()
        self._wakeup.set()

    def _drop(self, items: list[_Item]) -> None:
        for item in items:
            item.audio.cancel()
            self._queue.remove(item)
        if not self._queue and self._current is None:
            self._idle.set()

    def space_announcements(self, gap_s: float) -> None:
        """The caller waits for an agent (``gap_s`` > 0: paced announcements keep that far apart) or
        no longer does (0: announcements still held back are moot and go)."""
        self.spacing.gap_s = max(0.0, gap_s)
        if not gap_s:
            self._drop([item for item in self._queue if item.paced and item.batch != self._playing_batch])
        self._wakeup.set()

    def _held_back(self, item: _Item) -> bool:
        """A paced announcement that has not started and may not start yet: another announcement is
        playing (the gap follows its end) or ended less than the gap ago."""
        if not item.paced or item.batch == self._playing_batch or self.spacing.gap_s <= 0:
            return False
        current = self._current
        if current is not None and (current.hold_notice or current.paced):
            return True
        return self.spacing.wait_s() > 0

    def _next_index(self) -> int | None:
        """The queued item to play next: the first one not held back."""
        return next((i for i, item in enumerate(self._queue) if not self._held_back(item)), None)

    def hold(self, frames: tuple[str, ...] | None) -> None:
        """Loop ``frames`` whenever no prompt plays; None (or no frames) stops before the next frame."""
        frames = frames or None
        if frames == self._hold:
            return  # the same hold audio goes on without a restart
        self._hold = frames
        self._hold_at = 0
        self._wakeup.set()

    @property
    def holding(self) -> bool:
        return self._hold is not None

    @property
    def playing(self) -> bool:
        return self._current is not None or bool(self._queue)

    @property
    def interruptible(self) -> bool:
        items = ([self._current] if self._current else []) + [i for i in self._queue if not self._held_back(i)]
        return any(item.barge_in for item in items)

    async def interrupt(self) -> bool:
        """Barge-in: drop the current and queued prompts and tell the far end to ``clear``. An
        announcement held back has not started: it is not interrupted, it waits its turn."""
        dropped = [item for item in self._queue if not self._held_back(item)]
        if self._current is None and not dropped:
            return False
        self._cancelled = True  # synchronously: the playback loop checks it before every frame
        self._drop(dropped)
        async with self.lock:
            await self._send(self.serializer.clear())
        if self._current is None and not self._queue:
            self._idle.set()
        return True

    async def drop_hold_notices(self) -> None:
        """An agent has the call: notices for the waiting caller that are queued or playing go, so the
        agent's words come next; ``clear`` drops what the far end buffered of the one playing."""
        for item in [item for item in self._queue if item.hold_notice]:
            item.audio.cancel()
            self._queue.remove(item)
        if self._current is not None and self._current.hold_notice:
            self._cancelled = True  # synchronously, as in interrupt(): no frame of it follows the clear
            async with self.lock:
                await self._send(self.serializer.clear())
        if not self.playing:
            self._idle.set()

    async def drained(self) -> None:
        await self._idle.wait()

    async def close(self) -> None:
        self._closed = True
        self._cancelled = True
        for item in self._queue:
            item.audio.cancel()
        self._queue.clear()
        self._task.cancel()
        try:
            await self._task
        except (asyncio.CancelledError, Exception):
            pass
        self._idle.set()

    async def send_raw(self, frame: str) -> None:
        async with self.lock:
            await self._send(frame)

    # -- the loop --------------------------------------------------------------------------
    async def _audio(self, command) -> bytes:
        if isinstance(command, Beep):
            return beep_pcm()
        if command.prompt_id:
            wav = await self.player.audio(command.prompt_id, command.text, PHONE_RATE)
        else:
            wav = await self.player.tts.synthesize(command.text, PHONE_RATE)
        return await asyncio.to_thread(lambda: read_wav(wav).samples)

    async def _run(self) -> None:
        try:
            await self._play()
        except LINE_GONE as exc:  # the caller hung up mid-frame: the call is ending, nothing is wrong
            logger.info("ivr.playback.line_closed error=%s", type(exc).__name__)
            self._closed = True
            self._idle.set()  # whoever waits for the prompts to finish (the call's end) goes on

    async def _play(self) -> None:
        while not self._closed:
            index = self._next_index()
            if index is None:  # nothing queued, or only announcements held back
                if not self._queue:
                    self._idle.set()
                self._wakeup.clear()
                if self._hold:
                    await self._stream_hold(self._hold)
                elif self._queue:  # silence until the held-back announcement is due (clock checked each second)
                    try:
                        await asyncio.wait_for(self._wakeup.wait(), min(1.0, max(0.01, self.spacing.wait_s())))
                    except asyncio.TimeoutError:
                        pass
                else:
                    await self._wakeup.wait()
                continue
            item = self._current = self._queue.pop(index)
            self._playing_batch = item.batch
            self._cancelled = False
            try:
                pcm = await item.audio
            except asyncio.CancelledError:
                if self._closed:
                    raise
                pcm = b""
            except (VoiceError, ValueError, OSError) as exc:
                logger.error("ivr.playback.audio_failed label=%s error=%s", item.label, exc)
                pcm = b""
            if pcm and not self._cancelled:
                await self._stream(item, pcm)
            if item.hold_notice or item.paced:
                self.spacing.ended()
            self._current = None

    async def _stream_hold(self, frames: tuple[str, ...]) -> None:
        """Hold frames in real time until a prompt is ready to play, hold changes, or the call closes."""
        started = time.monotonic()
        sent = 0
        while True:
            delay = started + (sent - LEAD_FRAMES) * FRAME_S - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            async with self.lock:
                if self._closed:
                    return
                index = self._next_index()  # an announcement held back is not ready before its time
                prompt_ready = index is not None and self._queue[index].audio.done()
                if self._hold is not frames or prompt_ready:
                    if sent:  # drop what the far end buffered, so the prompt (or silence) starts now
                        await self._send(self.serializer.clear())
                    return
                await self._send(self.serializer.media_payload(frames[self._hold_at]))
                sent += 1
                self._hold_at = (self._hold_at + 1) % len(frames)
                if self._hold_at == 0:
                    await self._send(self.serializer.mark(HOLD_MARK))

    async def _stream(self, item: _Item, pcm: bytes) -> None:
        remainder = len(pcm) % _FRAME
        if remainder:
            pcm += b"\x00" * (_FRAME - remainder)
        caption = getattr(self.serializer, "caption", None)
        text = getattr(item.command, "text", "")
        frame = caption(text) if caption is not None and text else None
        if frame:
            await self._send(frame)
        started = time.monotonic()
        for index, offset in enumerate(range(0, len(pcm), _FRAME)):
            due = started + (index - LEAD_FRAMES) * FRAME_S
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            async with self.lock:
                if self._cancelled:
                    return
                await self._send(self.serializer.media(pcm[offset: offset + _FRAME]))
                self.frames_sent += 1
                if self.on_first_audio is not None:
                    callback, self.on_first_audio = self.on_first_audio, None
                    callback()
        remaining = started + (len(pcm) // _FRAME) * FRAME_S - time.monotonic()
        if remaining > 0:  # the far end is still playing what we sent ahead
            await asyncio.sleep(remaining)
        async with self.lock:
            if not self._cancelled and item.label:
                await self._send(self.serializer.mark(item.label))


def _log_crash(task: asyncio.Task) -> None:
    """A playback loop that died leaves the caller in silence: its traceback belongs in the log."""
    if not task.cancelled() and task.exception() is not None:
        logger.error("ivr.playback.crashed", exc_info=task.exception())


SAMPLES_PER_FRAME = _FRAME // SAMPLE_WIDTH
