"""A loopback hop to a real Redis that can lose one reply: the command reaches Redis and runs, then the
client's connection breaks before the answer is back (a network drop or a failover mid-command). Kefu's
clients send a command once more after a broken connection (bot/redis_reconnect.py), so a command that
is not safe to run twice runs twice."""
from __future__ import annotations

import asyncio

from tests.redis_hop import RedisHop


class ReplyLosingProxy(RedisHop):
    def __init__(self, redis_port: int) -> None:
        super().__init__(redis_port)
        self.armed = False  # the next EVALSHA's answer is lost
        self.lost = 0

    async def relay(self, reader, writer, upstream_reader, upstream_writer) -> None:
        losing = False

        async def to_redis() -> None:
            try:
                await forward()
            finally:  # the client gone (or cut off), this hop's reading from Redis ends too, not left pending
                upstream_writer.close()

        async def forward() -> None:
            nonlocal losing
            while data := await reader.read(65536):
                if self.armed and b"EVALSHA" in data:
                    self.armed, losing = False, True
                upstream_writer.write(data)
                await upstream_writer.drain()
                if losing:
                    await asyncio.sleep(0.2)  # Redis has run it by now
                    self.lost += 1
                    writer.transport.abort()
                    return

        async def to_client() -> None:
            while data := await upstream_reader.read(65536):
                if losing:
                    return
                writer.write(data)
                await writer.drain()

        await asyncio.gather(to_redis(), to_client(), return_exceptions=True)
