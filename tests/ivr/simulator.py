"""A phone carrier in a test: drives /webhooks/ivr/media with Twilio Media Streams frames.

Like the real network it sends a 20 ms μ-law frame every 20 ms for the whole call (silence
unless the test queues speech), echoes each ``mark`` (the server paces audio in real time, so
"received" is "played"), and stops sending media on ``clear``-dropped audio. Every frame sent
and every message received is logged with its time, so tests can check timing (barge-in) and
replay exactly the audio the server's VAD saw.
"""
from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from dataclasses import dataclass, field

import websockets

from voice.pcm import frame_bytes, mulaw_encode

FRAME = frame_bytes(8000, 20)  # 320 bytes of s16le = 160 μ-law bytes
SILENCE = b"\x00" * FRAME


@dataclass
class Received:
    at: float
    kind: str  # media | mark | clear | kefu_caption
    name: str = ""  # a mark's name, a caption's text
    payload: str = ""  # a media frame's base64 μ-law audio


@dataclass
class PhoneCall:
    url: str
    caller: str = "13800000001"
    flow: str = ""
    parameters: dict = field(default_factory=dict)  # more customParameters (callerId, kefuTrunkToken)
    headers: dict = field(default_factory=dict)  # of the WebSocket handshake (X-Twilio-Signature)
    encoding: str = "audio/x-mulaw"
    sample_rate: int = 8000
    stream_sid: str = field(default_factory=lambda: "MZ" + uuid.uuid4().hex)
    received: list[Received] = field(default_factory=list)
    sent_frames: list[tuple[float, bytes]] = field(default_factory=list)
    closed_at: float | None = None
    close_code: int | None = None

    async def __aenter__(self) -> "PhoneCall":
        self.ws = await websockets.connect(self.url, max_size=2 ** 20, extra_headers=self.headers)
        self._speech: list[bytes] = []
        self._sequence = 0
        self._stopped = False
        await self.send({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        await self.send({"event": "start", "streamSid": self.stream_sid, "start": {
            "streamSid": self.stream_sid, "accountSid": "ACtest", "callSid": "CA" + uuid.uuid4().hex,
            "tracks": ["inbound"], "customParameters": {"from": self.caller, "flow": self.flow, **self.parameters},
            "mediaFormat": {"encoding": self.encoding, "sampleRate": self.sample_rate, "channels": 1}}})
        self._reader = asyncio.create_task(self._read())
        self._line = asyncio.create_task(self._send_line())
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def send(self, message: dict | str) -> None:
        if isinstance(message, dict):
            self._sequence += 1
            message = json.dumps({**message, "sequenceNumber": str(self._sequence)})
        await self.ws.send(message)

    # -- caller actions ----------------------------------------------------------------
    def say(self, pcm_8k: bytes) -> None:
        """Queue speech; the line sends it frame by frame, in real time."""
        pcm_8k += b"\x00" * (-len(pcm_8k) % FRAME)
        self._speech.extend(pcm_8k[i:i + FRAME] for i in range(0, len(pcm_8k), FRAME))

    async def say_and_wait(self, pcm_8k: bytes) -> None:
        self.say(pcm_8k)
        while self._speech:
            await asyncio.sleep(0.02)

    async def press(self, digit: str) -> None:
        await self.send({"event": "dtmf", "streamSid": self.stream_sid,
                         "dtmf": {"track": "inbound_track", "digit": digit}})

    async def hangup(self) -> None:
        await self.stop()
        await self.close()

    async def stop(self) -> None:
        """The carrier's ``stop`` (the caller hung up), the socket left open for Kefu to close."""
        self._stopped = True
        try:
            await self.send({"event": "stop", "streamSid": self.stream_sid, "stop": {"accountSid": "ACtest"}})
        except websockets.ConnectionClosed:
            pass

    async def close(self) -> None:
        self._stopped = True
        self._line.cancel()
        await self.ws.close()
        try:
            await asyncio.wait_for(self._reader, 5)
        except (asyncio.TimeoutError, asyncio.CancelledError):
            self._reader.cancel()

    # -- observations ------------------------------------------------------------------
    def marks(self) -> list[str]:
        return [r.name for r in self.received if r.kind == "mark"]

    def media_count(self) -> int:
        return sum(r.kind == "media" for r in self.received)

    async def wait_for(self, predicate, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:g}s waiting for {what}; marks={self.marks()} "
                                     f"media={self.media_count()}")
            await asyncio.sleep(0.02)

    async def wait_mark(self, name: str, timeout: float = 30) -> None:
        await self.wait_for(lambda: any(m == name or m.startswith(name + ":") for m in self.marks()),
                            timeout, f"mark {name!r}")

    async def wait_media(self, timeout: float = 30) -> None:
        count = self.media_count()
        await self.wait_for(lambda: self.media_count() > count, timeout, "bot audio")

    async def wait_closed(self, timeout: float = 60) -> None:
        await self.wait_for(lambda: self.closed_at is not None, timeout, "the server to end the call")

    # -- the two directions of the line ----------------------------------------------------
    async def _send_line(self) -> None:
        started = time.monotonic()
        index = 0
        try:
            while not self._stopped:
                pcm = self._speech.pop(0) if self._speech else SILENCE
                payload = base64.b64encode(mulaw_encode(pcm)).decode()
                await self.send({"event": "media", "streamSid": self.stream_sid, "media": {
                    "track": "inbound", "chunk": str(index + 1), "timestamp": str(index * 20), "payload": payload}})
                self.sent_frames.append((time.monotonic(), pcm))
                index += 1
                await asyncio.sleep(max(0.0, started + index * 0.02 - time.monotonic()))
        except websockets.ConnectionClosed:
            pass

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                now = time.monotonic()
                message = json.loads(raw)
                kind = message.get("event")
                if kind == "mark":
                    name = message["mark"]["name"]
                    self.received.append(Received(now, "mark", name))
                    await self.send({"event": "mark", "streamSid": self.stream_sid, "mark": {"name": name}})
                elif kind == "media":
                    self.received.append(Received(now, kind, payload=(message.get("media") or {}).get("payload", "")))
                elif kind == "kefu_caption":  # asked for with customParameters.captions == "1"
                    self.received.append(Received(now, kind, (message.get("caption") or {}).get("text", "")))
                else:
                    self.received.append(Received(now, kind))
        except websockets.ConnectionClosed as closed:
            self.close_code = closed.code
        finally:
            self.closed_at = time.monotonic()
            self._stopped = True


def hold_media(call: "PhoneCall", frames: tuple[str, ...], after: float) -> list:
    """Frames received after ``after`` that are recognisably the hold audio (its pause is silence,
    like any prompt's, so only frames occurring once in the loop count)."""
    counts: dict[str, int] = {}
    for frame in frames:
        counts[frame] = counts.get(frame, 0) + 1
    known = {frame for frame, count in counts.items() if count == 1}
    return [r for r in call.received if r.kind == "media" and r.at > after and r.payload in known]


def receiver(ws):
    """The server side of a test's media line: ``CallSession.run``'s receive over a ``websockets`` server
    connection (None when nothing came within ``timeout``, as the Sanic route's does)."""
    async def receive(timeout: float):
        try:
            return await asyncio.wait_for(ws.recv(), timeout)
        except asyncio.TimeoutError:
            return None

    return receive
