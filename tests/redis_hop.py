"""A loopback hop between a Kefu client and a real Redis, for tests that put a network fault at an exact command
(``tests/scale/reply_lost.py`` loses a reply, ``tests/handoff/held_reply.py`` holds one back). A subclass says how
one client connection's bytes go each way (:meth:`relay`); this opens, tracks and ends the connections."""
from __future__ import annotations

import asyncio


class RedisHop:
    def __init__(self, redis_port: int) -> None:
        self.redis_port = redis_port
        self.port = 0
        self._server: asyncio.base_events.Server | None = None
        self._hops: set[asyncio.Task] = set()  # one per client connection

    async def start(self):
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for hop in list(self._hops):  # a connection its client keeps open (a lease's thread) ends with the test
            hop.cancel()
        await asyncio.gather(*self._hops, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._hops.add(asyncio.current_task())
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.redis_port)
        try:
            await self.relay(reader, writer, upstream_reader, upstream_writer)
        finally:
            self._hops.discard(asyncio.current_task())
            upstream_writer.close()
            writer.close()

    async def relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    upstream_reader: asyncio.StreamReader, upstream_writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError
