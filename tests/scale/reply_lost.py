"""A loopback hop to a real Redis that can lose one reply: the command reaches Redis and runs, then the
client's connection breaks before the answer is back (a network drop or a failover mid-command). Kefu's
clients send a command once more after a broken connection (bot/redis_reconnect.py), so a command that
is not safe to run twice runs twice."""
from __future__ import annotations

import asyncio


class ReplyLosingProxy:
    def __init__(self, redis_port: int) -> None:
        self.redis_port = redis_port
        self.armed = False  # the next EVALSHA's answer is lost
        self.lost = 0
        self.port = 0
        self._server: asyncio.base_events.Server | None = None
        self._hops: set[asyncio.Task] = set()  # one per client connection

    async def start(self) -> "ReplyLosingProxy":
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for hop in list(self._hops):  # a connection its client keeps open ends with the test
            hop.cancel()
        await asyncio.gather(*self._hops, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._hops.add(asyncio.current_task())
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.redis_port)
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

        try:
            await asyncio.gather(to_redis(), to_client(), return_exceptions=True)
        finally:
            self._hops.discard(asyncio.current_task())
            upstream_writer.close()
            writer.close()
