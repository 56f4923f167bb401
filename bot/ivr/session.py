"""One phone call end to end: frames in, Kefu events to the engine, commands out as audio.

Three things run per call: the receive loop (parses frames, runs VAD on every audio frame and
does barge-in *inline*, so ``clear`` goes out before the next frame is even read), the engine
worker (applies events to the flow one at a time: a slow bot turn never stalls the audio) and
the playback task. Timers (no input, inter-digit) start when the prompts have finished playing.
A Listen naming hold audio (the caller waits for an agent) loops it between prompts; any other
command, and the end of the call, stops it. Its ``announcement_gap_s`` keeps the waiting caller's
announcements apart (:mod:`bot.ivr.announcements`).
Whatever ends the call — the flow, the caller, a bad frame, a dead socket — goes through
:meth:`CallSession._shutdown`, which removes the call's state from Redis.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from typing import Awaitable, Callable

from redis.exceptions import RedisError

from bot.ivr.call_audio import LISTEN, QUICK_END_FREE_S, QUICK_END_S, RECORD, CallAudio, RecordingAudio, SpeechBegan, TurnEnded
from bot.ivr.engine import FlowEngine
from bot.ivr.errors import CallStateError, WireFormatError
from bot.ivr.events import (AgentOnLine, AudioIn, Beep, CallStart, EndCall, HandedBack, Hangup, Hold, Ignored,
                            KeyPress, LineMessage, Listen, NoInput, PlaybackMark, Recording, Say, StartRecording,
                            Utterance)
from bot.ivr.hold_audio import hold_frames
from bot.ivr.playback import Playback
from bot.ivr.speech_turn import StreamingTurn
from bot.ivr.turn_timing import TurnTiming
from bot.observability.logging_setup import bind_conversation
from bot.observability.metrics import count_refused_call, observe_real_time_factor
from voice.asr import AsrEngine
from voice.prompts import PromptPlayer

logger = logging.getLogger(__name__)

IDLE_RECEIVE_S = 20.0  # no frame at all for this long: the far end is gone
MAX_BAD_FRAMES = 50
# A carrier sends ``start`` right after ``connected``; a socket that has not within this long is no
# call, and is closed (keep-alive frames kept it 30 min). A call takes its place at ``start``
# (``admit``, bot/ivr/places.py), so a socket waiting for one holds none.
START_TIMEOUT_S = 10.0
# A carrier sends audio as it is spoken. A stream further ahead of the clock than this is read no
# faster than real time (the socket waits, so the sender is held back), or one client could queue
# hours of audio for the process's recognisers in seconds, starving every other call of them.
MAX_AUDIO_AHEAD_S = 5.0
# Keys likewise: a phone's DTMF is at most ~12 keys a second (ITU-T Q.24: 40 ms tone, 40 ms pause).
# Past a burst of KEY_BURST, keys are read no faster than KEYS_PER_SECOND; each is a flow step with
# Redis round trips, and a client sending them at network speed kept the engine (and Redis) busy.
KEYS_PER_SECOND = 20.0
KEY_BURST = 20
# A call ended from outside (an unvouched call whose place went to the carrier's caller) is told why
# (content/ivr.yml ``prompts.line_busy``), for at most this long: the place is already the other call's,
# so this bounds how long the process serves one stream over its places.
BUSY_PROMPT_MAX_S = 6.0


class CallSession:
    def __init__(self, *, engine: FlowEngine, serializer, player: PromptPlayer, asr: AsrEngine | None,
                 send: Callable[[str], Awaitable[None]], close: Callable[[], Awaitable[None]],
                 max_call_s: float = 1800, max_utterance_s: float = 15.0,
                 on_latency: Callable[[float], None] | None = None, lines=None,
                 end_of_turn: tuple[float, float] | None = None,
                 unfinished: tuple[tuple[str, ...], float] = ((), 2.0),
                 admit: Callable[[CallStart], Awaitable[bool]] | None = None,
                 free_place: Callable[[], None] | None = None) -> None:
        self.engine = engine
        self.admit = admit  # whether the process has a place for this call (bot/ivr/places.py); None: always
        # Gives the place back (again is harmless): once the call is over, before its clean-up writes to Redis
        # and the database, or a slow Redis or database kept ended calls' places and callers heard busy.
        self.free_place = free_place or (lambda: None)
        self.serializer = serializer
        self.asr = asr
        self._close = close
        self.max_call_s = max_call_s
        menu_s, free_s = end_of_turn or (QUICK_END_S, QUICK_END_FREE_S)
        self.audio = CallAudio(max_utterance_s=max_utterance_s, quick_end_s=menu_s, quick_end_free_s=free_s,
                               unfinished_starts=unfinished[0], unfinished_wait_s=unfinished[1])
        self.playback = Playback(send, serializer, player)
        self.call_id: str | None = None
        self.listen: Listen | None = None
        self.ended = asyncio.Event()
        self.end_reason = ""
        self._inbox: asyncio.Queue = asyncio.Queue()
        self._worker: asyncio.Task | None = None
        self._timer: asyncio.Task | None = None
        self._generation = 0
        self._tasks: set[asyncio.Task] = set()
        self._bad_frames = 0
        self._started_at = time.monotonic()
        self._audio_s = 0.0  # seconds of caller audio received
        self._keys = 0  # keys received
        self.on_latency = on_latency
        self.lines = lines  # bot.ivr.line.CallLines: messages for this call from any process

    # -- receive loop ---------------------------------------------------------------------
    async def run(self, receive: Callable[[float], Awaitable[object]]) -> str:
        """``receive(timeout)`` returns the next frame, or None when ``timeout`` passed."""
        reason = "caller"
        try:
            while not self.ended.is_set():
                elapsed = time.monotonic() - self._started_at
                remaining = self.max_call_s - elapsed
                if remaining <= 0:
                    reason = "max_duration"
                    break
                wait = min(IDLE_RECEIVE_S, remaining)
                if self.call_id is None:
                    if elapsed >= START_TIMEOUT_S:
                        reason = "no_start"
                        break
                    wait = min(wait, START_TIMEOUT_S - elapsed)
                raw = await receive(wait)
                if raw is None:
                    if self.ended.is_set():
                        break
                    if self.call_id is None:  # nothing came before the start's deadline (the clock may read
                        reason = "no_start"  # a hair short of it when the wait ends: that was "no_frames")
                        break
                    reason = "max_duration" if remaining <= IDLE_RECEIVE_S else "no_frames"
                    break
                try:
                    event = self.serializer.parse(raw)
                except WireFormatError as exc:
                    if exc.fatal:
                        logger.warning("ivr.frame.fatal call=%s error=%s", self.call_id, exc)
                        reason = "bad_stream"
                        break
                    self._bad_frames += 1
                    logger.info("ivr.frame.skipped call=%s error=%s", self.call_id, exc)
                    if self._bad_frames > MAX_BAD_FRAMES:
                        reason = "bad_stream"
                        break
                    continue
                if isinstance(event, Hangup):
                    reason = "caller"
                    self.free_place()  # the caller is gone: what is left is clean-up
                    await self._caller_hung_up()
                    break
                await self._on_event(event)
        except asyncio.CancelledError:
            if not self.ended.is_set():  # the server is going down: clean up (shielded), then stop
                await asyncio.shield(asyncio.ensure_future(self._shutdown("cancelled")))
                raise
        except Exception as exc:  # the socket closed or died mid-receive: end the call cleanly
            if not self.ended.is_set():
                reason = "hung_up" if isinstance(exc, ConnectionError) or "Closed" in type(exc).__name__ else "error"
                logger.info("ivr.call.socket_ended call=%s error=%s", self.call_id, type(exc).__name__)
        final = self.end_reason or reason
        await asyncio.shield(asyncio.ensure_future(self._shutdown(final)))
        return final

    async def _on_event(self, event) -> None:
        if isinstance(event, CallStart):
            if not await self.engine.services.store.claim(event.call_id):
                # Another stream has (or had) this call: refuse it and leave that call alone (and
                # the process's places: a vouched duplicate ends no unvouched call to make room).
                logger.warning("ivr.call.duplicate_stream call=%s", event.call_id)
                count_refused_call("duplicate_stream")
                self.end_reason = "duplicate_stream"
                self.ended.set()
                return
            if self.admit is not None and not await self.admit(event):
                # No place for it: refused before it runs a flow, its claim given back for a retry.
                await self.engine.services.store.unclaim(event.call_id)
                self.end_reason = "busy"
                self.ended.set()
                return
            self.call_id = event.call_id
            bind_conversation(f"ivr:{event.call_id}", "ivr")  # the worker task below inherits it
            event = dataclasses.replace(event, speech_recognised=self.asr is not None)  # the desk tells the agent
            self._worker = asyncio.create_task(self._work(), name=f"ivr-call-{event.call_id}")
            self._inbox.put_nowait(event)
            if self.lines is not None:
                self.lines.attach(event.call_id, self._from_line)
        elif isinstance(event, AudioIn):
            await self._keep_to_real_time(event.pcm)
            for audio_event in self.audio.feed(event.pcm):
                await self._on_audio(audio_event)
        elif isinstance(event, KeyPress):
            await self._keep_keys_to_a_phones_pace()
            await self._on_key(event)
        elif isinstance(event, (PlaybackMark, Ignored)):
            pass

    async def _keep_to_real_time(self, pcm: bytes) -> None:
        """Wait while the caller's audio is more than ``MAX_AUDIO_AHEAD_S`` ahead of the call's clock."""
        self._audio_s += len(pcm) / 2 / self.audio.sample_rate
        ahead = self._audio_s - (time.monotonic() - self._started_at) - MAX_AUDIO_AHEAD_S
        if ahead > 0:
            await asyncio.sleep(ahead)

    async def _keep_keys_to_a_phones_pace(self) -> None:
        self._keys += 1
        due = (self._keys - KEY_BURST) / KEYS_PER_SECOND - (time.monotonic() - self._started_at)
        if due > 0:
            await asyncio.sleep(due)

    async def _on_audio(self, event) -> None:
        if isinstance(event, SpeechBegan):
            if self.listen is not None and self.listen.speech and self.audio.mode == LISTEN:
                self._cancel_timer()
                if self.playback.interruptible:
                    await self.playback.interrupt()  # barge-in, before the next frame is read
        elif isinstance(event, TurnEnded):
            if self.listen is not None and self.listen.speech:
                self._spawn(self._recognise(event, time.monotonic()))
            else:
                event.turn.cancel()
        elif isinstance(event, RecordingAudio):
            self._post(Recording(event.pcm, event.sample_rate, event.finished_by, event.heard_speech))

    async def _on_key(self, event: KeyPress) -> None:
        if self.audio.mode == RECORD:
            node_key = getattr(self, "_finish_key", "#")
            if event.digit == node_key:
                done = self.audio.finish_recording("key")
                if done:
                    self._post(Recording(done.pcm, done.sample_rate, done.finished_by, done.heard_speech))
            return
        if self.listen is None or not self.listen.keys:
            return
        event = dataclasses.replace(event, at=time.time())  # the engine tells typed-ahead keys by it
        self._cancel_timer()
        if self.playback.interruptible:
            await self.playback.interrupt()
        self._post(event)

    async def _recognise(self, ended: TurnEnded, ended_at: float) -> None:
        """The turn was decoded while spoken: flush it and hand the words to the engine at once."""
        timing = TurnTiming(ended.why, ended.silence_s, ended_at)
        result = await ended.turn.result()
        timing.flushed_at = time.monotonic()
        if ended.turn.seconds > 0 and self.asr is not None:
            observe_real_time_factor("ivr", ended.turn.decode_seconds, ended.turn.seconds)
        unheard = b"" if result.text.strip() else bytes(ended.turn.audio)  # the agent may still listen to it
        self._post(Utterance(result.text, result.confidence, ended.turn.seconds, ended_at, timing=timing,
                             recognisable=self.asr is not None, audio=unheard, sample_rate=self.audio.sample_rate))

    def _new_turn(self, phrases: tuple[str, ...]) -> StreamingTurn:
        return StreamingTurn(self.asr, self.audio.sample_rate, phrases)

    async def _from_line(self, message: dict) -> None:
        """A message published for this call (``bot.ivr.line``): through the engine, in order."""
        if message.get("kind") == "message" and isinstance(message.get("message"), dict):
            self._post(LineMessage(message["message"]))
        elif message.get("kind") == "handback":
            self._post(HandedBack(str(message.get("why") or "agent_closed")))

    async def _caller_hung_up(self) -> None:
        done = self.audio.finish_recording("hangup")
        if done is not None and self._worker is not None:
            # Through the worker, so the engine never sees two events of one call at once.
            self._post(Recording(done.pcm, done.sample_rate, "hangup", done.heard_speech))
            try:
                await asyncio.wait_for(self._inbox.join(), 10)
            except asyncio.TimeoutError:
                logger.warning("ivr.call.hangup_recording_timeout call=%s", self.call_id)

    # -- engine worker -----------------------------------------------------------------
    def _post(self, event) -> None:
        self._inbox.put_nowait((self._generation, event))

    async def _work(self) -> None:
        while True:
            item = await self._inbox.get()
            try:
                if isinstance(item, CallStart):
                    await self._execute(await self._guarded(self.engine.start, item))
                    continue
                generation, event = item
                if isinstance(event, NoInput) and generation != self._generation:
                    continue  # a timer from a node the call has left
                await self._apply(event)
            finally:
                self._inbox.task_done()

    async def _apply(self, event) -> None:
        commands = await self._guarded(self.engine.handle, self.call_id, event)
        if isinstance(event, Utterance) and (self.on_latency is not None or event.timing is not None):
            if event.timing is not None:
                event.timing.handled_at = time.monotonic()
            self.playback.on_first_audio = lambda: self._first_answer_frame(event)
        await self._execute(commands)

    def _first_answer_frame(self, utterance: Utterance) -> None:
        now = time.monotonic()
        if self.on_latency is not None:
            self.on_latency(now - utterance.ended_at)
        if utterance.timing is not None:
            utterance.timing.log(self.call_id, now)

    async def _guarded(self, step, *args) -> list:
        try:
            return await step(*args)
        except CallStateError as exc:
            logger.warning("ivr.call.state_lost call=%s error=%s", self.call_id, exc)
            return [EndCall("state_lost")]
        except Exception:
            logger.exception("ivr.call.engine_failed call=%s", self.call_id)
            hotline = self.engine.services.hotline.get()
            return [Say(hotline.prompt("technical_problem"), label="technical_problem"), EndCall("error")]

    async def _execute(self, commands: list) -> None:
        batch = self.playback.new_batch()  # one answer: an announcement's sentences are said together
        for command in commands:
            if isinstance(command, (Say, Beep)):
                self.playback.enqueue(command, batch)
            elif isinstance(command, Listen):
                self._set_listen(command)
                if command.hold_audio:
                    await self._hold(command.hold_audio)
            elif isinstance(command, StartRecording):
                self._set_listen(None)
                self._finish_key = command.finish_key
                self._spawn(self._record_after_prompt(command, self._generation))
            elif isinstance(command, Hold):
                self._set_listen(None)
            elif isinstance(command, AgentOnLine):
                await self.playback.drop_hold_notices()
            elif isinstance(command, EndCall):
                self._set_listen(None)
                self._spawn(self._end_after_prompt(command.reason))

    async def _hold(self, path: str) -> None:
        frames = await asyncio.to_thread(hold_frames, path)
        if not self.playback.holding:
            logger.info("ivr.hold.started call=%s frames=%d", self.call_id, len(frames))
        self.playback.hold(frames)

    def _set_listen(self, listen: Listen | None) -> None:
        self._generation += 1
        self._cancel_timer()
        self.listen = listen
        if listen is None or not listen.hold_audio:
            self.playback.hold(None)
        self.playback.space_announcements(listen.announcement_gap_s if listen is not None else 0.0)
        if listen is not None and listen.speech:
            phrases = tuple(listen.phrases)
            self.audio.listen(lambda: self._new_turn(phrases))
        elif self.audio.mode != RECORD:
            self.audio.idle()
        if listen is not None:
            timeout = listen.inter_digit_timeout_s or listen.timeout_s
            self._timer = asyncio.create_task(self._no_input_after(timeout, self._generation,
                                                                   bool(listen.inter_digit_timeout_s)))

    async def _no_input_after(self, timeout: float, generation: int, partial: bool) -> None:
        await self.playback.drained()
        while True:
            await asyncio.sleep(timeout)
            if not self.audio.in_speech or self.audio.mode != LISTEN:
                break  # a caller still talking is not "no input"
        if generation == self._generation:
            self._inbox.put_nowait((generation, NoInput(partial_digits=partial, at=time.time())))

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def _record_after_prompt(self, command: StartRecording, generation: int) -> None:
        await self.playback.drained()
        if generation == self._generation:
            self.audio.start_recording(command.max_seconds, command.end_silence_s)

    def end_with(self, prompt: str, reason: str) -> bool:
        """End the call whatever it is doing (its place went to a call the carrier vouched for): the flow
        stops, what it was saying is cut, the hotline's ``prompt`` is said, then the line is closed, all
        within ``BUSY_PROMPT_MAX_S``. False when the call was ending already (nothing is said)."""
        if self.ended.is_set() or self.end_reason:
            return False
        self.end_reason = reason  # also if the caller hangs up meanwhile
        if self._worker is not None:
            self._worker.cancel()  # no flow step after this one: nothing else is said or done
        for task in list(self._tasks):  # a goodbye's end, a recording about to start, a turn being recognised
            task.cancel()
        self._set_listen(None)
        self.audio.idle()  # a voice message being recorded is not kept, as at any end the caller did not choose
        self._spawn(self._say_then_close(prompt))
        return True

    async def _say_then_close(self, prompt: str) -> None:
        from bot.ivr.playback import LINE_GONE

        async def say() -> None:
            await self.playback.interrupt()
            self.playback.enqueue(Say(self.engine.services.hotline.get().prompt(prompt), label=prompt,
                                      barge_in=False))
            await self.playback.drained()

        try:
            await asyncio.wait_for(say(), BUSY_PROMPT_MAX_S)
        except asyncio.TimeoutError:
            logger.info("ivr.call.prompt_cut call=%s prompt=%s seconds=%g", self.call_id, prompt, BUSY_PROMPT_MAX_S)
        except LINE_GONE:  # the caller hung up first
            pass
        self.ended.set()
        await self._close()  # wakes the receive loop

    async def _end_after_prompt(self, reason: str) -> None:
        await self.playback.drained()
        self.end_reason = reason
        self.ended.set()
        await self._close()  # wakes the receive loop

    def _spawn(self, coroutine) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- the end ---------------------------------------------------------------------------
    async def _shutdown(self, reason: str) -> None:
        if getattr(self, "_shut", False):
            return
        self._shut = True
        self.ended.set()
        self.free_place()
        if self.lines is not None and self.call_id is not None:
            self.lines.detach(self.call_id)
        self._cancel_timer()
        self.audio.close()
        if self._worker is not None:
            self._worker.cancel()
        for task in list(self._tasks):
            if task is not asyncio.current_task():
                task.cancel()
        await self.playback.close()
        if self.call_id is not None:
            try:
                await self.engine.end(self.call_id, reason)
            except (RedisError, OSError) as exc:  # Redis gone: the keys expire on their own
                logger.warning("ivr.call.cleanup_failed call=%s error=%s", self.call_id, exc)
            except Exception:  # noqa: BLE001 - a bug in cleanup must not leave the socket open
                logger.exception("ivr.call.cleanup_crashed call=%s", self.call_id)
        try:
            await self._close()
        except (OSError, RuntimeError, ConnectionError) as exc:  # already closed by the far end
            logger.debug("ivr.call.close_failed call=%s error=%s", self.call_id, type(exc).__name__)
