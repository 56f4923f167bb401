"""A loopback hop to a real Redis that can hold one reply back: the command reaches Redis and runs, its answer waits
on the way back until the test lets it go (a slow network between a Kefu process and Redis). Everything another
client does meanwhile happens between that command and the one its process sends next: a race on a real Redis, put
in order without touching the code under test (as ``tests/scale/reply_lost.py`` loses a reply)."""
from __future__ import annotations

import asyncio

from tests.redis_hop import RedisHop


class HeldReplyProxy(RedisHop):
    def __init__(self, redis_port: int) -> None:
        super().__init__(redis_port)
        self.words: tuple[bytes, ...] = ()  # armed: the reply to the next command holding all these words is held
        self.held = asyncio.Event()  # set once that command has run and its reply waits here
        self._go = asyncio.Event()

    def hold_reply_to(self, *words: str) -> None:
        self.words = tuple(word.encode() for word in words)
        self.held.clear()
        self._go.clear()

    def release(self) -> None:
        self._go.set()

    async def close(self) -> None:
        self.release()
        await super().close()

    async def relay(self, reader, writer, upstream_reader, upstream_writer) -> None:
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

        await asyncio.gather(to_redis(), to_client(), return_exceptions=True)
