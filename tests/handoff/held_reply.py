"""A loopback hop to a real Redis that can hold one reply back: the command reaches Redis and runs, its answer waits
on the way back until the test lets it go (a slow network between a Kefu process and Redis). Everything another
client does meanwhile happens between that command and the one its process sends next: a race on a real Redis, put
in order without touching the code under test (as ``tests/scale/reply_lost.py`` loses a reply)."""
from __future__ import annotations

import asyncio


class HeldReplyProxy:
    def __init__(self, redis_port: int) -> None:
        self.redis_port = redis_port
        self.words: tuple[bytes, ...] = ()  # armed: the reply to the next command holding all these words is held
        self.held = asyncio.Event()  # set once that command has run and its reply waits here
        self._go = asyncio.Event()
        self.port = 0
        self._server: asyncio.base_events.Server | None = None
        self._hops: set[asyncio.Task] = set()  # one per client connection

    def hold_reply_to(self, *words: str) -> None:
        self.words = tuple(word.encode() for word in words)
        self.held.clear()
        self._go.clear()

    def release(self) -> None:
        self._go.set()

    async def start(self) -> "HeldReplyProxy":
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        self.release()
        if self._server is not None:
            self._server.close()
        for hop in list(self._hops):  # a connection its client keeps open (the lease's thread) ends with the test
            hop.cancel()
        await asyncio.gather(*self._hops, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._hops.add(asyncio.current_task())
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.redis_port)
        holding = False

        async def to_redis() -> None:
            nonlocal holding
            while data := await reader.read(65536):
                if self.words and all(word in data for word in self.words):
                    self.words, holding = (), True  # before Redis can answer it
                upstream_writer.write(data)
                await upstream_writer.drain()

        async def to_client() -> None:
            nonlocal holding
            while data := await upstream_reader.read(65536):
                if holding:
                    self.held.set()
                    await self._go.wait()
                    holding = False
                writer.write(data)
                await writer.drain()

        try:
            await asyncio.gather(to_redis(), to_client(), return_exceptions=True)
        finally:
            self._hops.discard(asyncio.current_task())
            upstream_writer.close()
            writer.close()
