"""A loopback hop to a real Redis that goes away at one command: the command never reaches Redis, the client's
connection breaks, and every connection after it is refused while the hop runs (a Redis stopped, or a
partition, between two steps of the code under test). Kefu's clients send a command once more after a broken
connection (bot/redis_reconnect.py): that try meets the refusal too."""
from __future__ import annotations

import asyncio

from tests.redis_hop import RedisHop


class RedisGoneProxy(RedisHop):
    def __init__(self, redis_port: int) -> None:
        super().__init__(redis_port)
        self.words: tuple[bytes, ...] = ()  # armed: Redis goes at the next command holding all these words
        self.gone = False

    def gone_at(self, *words: str) -> None:
        self.words = tuple(word.encode() for word in words)

    async def relay(self, reader, writer, upstream_reader, upstream_writer) -> None:
        async def to_redis() -> None:
            try:
                while not self.gone and (data := await reader.read(65536)):
                    if self.words and all(word in data for word in self.words):
                        self.words, self.gone = (), True
                    if self.gone:
                        break
                    upstream_writer.write(data)
                    await upstream_writer.drain()
            finally:
                writer.transport.abort()
                upstream_writer.close()

        async def to_client() -> None:
            while data := await upstream_reader.read(65536):
                writer.write(data)
                await writer.drain()

        await asyncio.gather(to_redis(), to_client(), return_exceptions=True)
