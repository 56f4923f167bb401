"""A thread that renews a process's Redis leases, so a stalled event loop lets none of them lapse.

A lease renewed by a task on the event loop lapses whenever the loop is held up for longer than the
lease (a long synchronous step in a turn, a model predicting on the loop, a GC pause), and another
worker then takes over work that is still running here. A thread with its own synchronous client
keeps renewing meanwhile; a dead process renews nothing, so its leases still lapse in time.

Used by the conversation lock (``bot.lock_store``), the web chat's in-flight leases
(``bot.channels.webchat_inflight``), WeChat's claims on messages (``bot.channels.wechat``) and the waiting
room's lock (``bot.handoff.watcher``); each says what one round renews (``renew``, given the client).
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Optional

from redis.exceptions import RedisError

from bot.redis_reconnect import timeouts

logger = logging.getLogger(__name__)


def client_from_url(url: str):
    """A synchronous client of the thread's own (the event loop's asyncio client is not for other threads)."""
    import redis

    return redis.Redis.from_url(url, decode_responses=True, **timeouts())


def client_like(async_client):
    """A synchronous client to the server and database an asyncio client talks to (TCP, TLS or a socket
    file), for code that was handed the client rather than its URL."""
    import redis
    import redis.connection

    pool = async_client.connection_pool
    options = {name: value for name, value in pool.connection_kwargs.items()
               if name not in ("retry", "retry_on_error", "socket_timeout", "socket_connect_timeout")}
    connection_class = getattr(redis.connection, pool.connection_class.__name__)
    return redis.Redis(connection_pool=redis.ConnectionPool(connection_class=connection_class, **options,
                                                            **timeouts()))


class RenewingThread:
    """Calls ``renew(client)`` every ``every_s()`` seconds on a daemon thread, from :meth:`start` to :meth:`stop`.

    A round that fails (Redis stalled past its timeout, or gone) is logged once until one succeeds, and
    tried again after ``retry_s``, doubling up to ``every_s()`` (``retry_s`` None: at the next round).
    """

    def __init__(self, name: str, connect: Callable[[], Any], renew: Callable[[Any], None],
                 every_s: Callable[[], float], failed_event: str, retry_s: Optional[float] = None) -> None:
        self.name, self.connect, self.renew, self.every_s = name, connect, renew, every_s
        self.failed_event, self.retry_s = failed_event, retry_s
        self._thread: Optional[threading.Thread] = None
        self._stopped = threading.Event()
        self._starting = threading.Lock()

    def start(self) -> None:
        """Run the thread (again, if it was stopped); at once when it runs already."""
        with self._starting:
            if self._thread is None or not self._thread.is_alive() or self._stopped.is_set():
                self._stopped = threading.Event()
                self._thread = threading.Thread(target=self._run, args=(self._stopped,), name=self.name,
                                                daemon=True)
                self._thread.start()

    def stop(self) -> None:
        self._stopped.set()

    def _run(self, stopped: threading.Event) -> None:
        client = self.connect()
        failures, pause = 0, self.every_s()
        try:
            while not stopped.wait(pause):
                try:
                    self.renew(client)
                except RedisError as error:
                    failures += 1
                    if failures == 1:
                        logger.warning("%s error=%s", self.failed_event, type(error).__name__)
                    pause = self.every_s()
                    if self.retry_s is not None:  # soon, not in a tight loop while Redis is down
                        pause = min(pause, self.retry_s * 2 ** failures)
                else:
                    failures, pause = 0, self.every_s()
        finally:
            client.close()
