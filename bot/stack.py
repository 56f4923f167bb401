"""Start the whole of Kefu: Redis (embedded unless REDIS_URL), database, model, action server, Rasa server.

Used by ``kefu run`` and by the tests that need the real servers.
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bot.db.repository import Repository
from bot.db.seed import prepare_database
from bot.embedded_redis import EmbeddedRedis, EmbeddedRedisError, RedisPortTaken, check_data_folder, check_port
from bot.handoff.commands import ensure_demo_agent
from bot.security.launch import action_server_command, cors_arguments, secure_environment
from bot.observability.log_files import BoundedLog, settle, start_pump
from bot.security.private_files import private_dir
from bot.serving import forget_serving, record_serving
from bot.settings import Settings, redis_parts
from bot.published_model import model_to_serve
from bot.workers import worker_environment

if TYPE_CHECKING:
    from bot.db.model_store import Publication

log = logging.getLogger(__name__)


class StartupError(RuntimeError):
    """A part of Kefu did not come up; the message says which and where its log is."""


def apply_stored_retention(settings: Settings, redis_url: str) -> None:
    """Shortened expiry settings reach the conversations already stored (bot/privacy/retention.py).
    A Redis that cannot be reached here is reported by the servers themselves; starting goes on."""
    import redis

    from bot.privacy.retention import apply_retention
    from bot.redis_reconnect import timeouts

    client = redis.Redis.from_url(redis_url, **timeouts(settings.redis.timeout_s))
    try:
        apply_retention(client, settings)
    except redis.RedisError as exc:
        log.warning("privacy.retention.not_applied error=%s", exc)
    finally:
        client.close()


def wait_until_up(url: str, process: subprocess.Popen, log_file: Path, timeout: float) -> None:
    """Poll a health URL until it answers, the process dies, or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            settle(process)  # so the reason is in the log the message points to
            raise StartupError(f"{url} exited with code {process.returncode}; see {log_file}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status < 500:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    raise StartupError(f"{url} did not come up within {timeout:.0f}s; see {log_file}")


def start_embedded_redis(settings: Settings) -> EmbeddedRedis:
    """The embedded Redis, or a StartupError saying why not in one line (as for the other servers)."""
    try:
        return EmbeddedRedis(settings.redis.embedded_dir, settings.redis.embedded_port, settings.aof_rewrite_s,
                             settings.log_max_bytes, settings.log_backups).start()
    except EmbeddedRedisError as exc:
        raise embedded_redis_refused(exc) from exc


def check_embedded_redis(settings: Settings) -> None:
    """Before minutes of preparing, a StartupError: a KEFU_REDIS_PORT another program has, a data
    folder another redis-server serves (one left by a killed ``kefu run``, on any port)."""
    if settings.redis.url is not None:
        return
    try:
        if settings.redis.embedded_port:
            check_port(settings.redis.embedded_port, settings.redis.embedded_dir)
        check_data_folder(settings.redis.embedded_dir)
    except EmbeddedRedisError as exc:
        raise embedded_redis_refused(exc) from exc


def embedded_redis_refused(exc: EmbeddedRedisError) -> StartupError:
    hint = ("; stop that one, or set KEFU_REDIS_PORT to a free port (unset: a free one is chosen at each start)"
            if isinstance(exc, RedisPortTaken) else "")
    return StartupError(f"embedded Redis: {exc}{hint}")


@dataclass
class KefuStack:
    settings: Settings
    model: Path | None = None  # what the Rasa server starts with; kefu run's follower updates it on a publish
    publication: "Publication | None" = None  # the published model served, if it is one (bot/published_model.py)
    redis_url: str | None = None
    processes: list[subprocess.Popen] = field(default_factory=list)
    _redis: EmbeddedRedis | None = None
    log_starts: dict = field(default_factory=dict)  # log file -> its size when its server last started
    logs: dict = field(default_factory=dict)  # log file -> its BoundedLog, shared by the servers writing it


    def child_environment(self) -> dict:
        """Environment for the Rasa and action servers: endpoints.yml reads these."""
        parts = redis_parts(self.redis_url or "redis://127.0.0.1:6379/0")
        env = dict(self.settings.env)
        env.update(
            KEFU_ROOT=str(self.settings.root),
            KEFU_DATABASE_URL=self.settings.database_url,
            KEFU_PUBLIC_URL=self.settings.public_url,
            KEFU_ACTION_URL=self.settings.action_url,
            REDIS_URL=self.redis_url or "",
            REDIS_HOST=parts["host"],
            REDIS_PORT=str(parts["port"]),
            REDIS_DB=str(parts["db"]),
            REDIS_PASSWORD=parts["password"],
            RASA_TELEMETRY_ENABLED="false",
            # Keep idle connections open longer on the server side than aiohttp's 15 s
            # client keep-alive, so Rasa never writes to a connection the action server
            # just closed (seen as failed actions while a model hot-swap blocks the loop).
            SANIC_KEEP_ALIVE_TIMEOUT="75",
            PYTHONUNBUFFERED="1",
        )
        env.update(secure_environment(self.settings))  # API token, action secret, bind address, retention
        env.update(worker_environment(self.settings.env))
        env.update(self.metrics_environment())
        return env

    def metrics_environment(self) -> dict:
        """One prometheus-client multiprocess folder for every Kefu process of this stack (see /metrics)."""
        return {"PROMETHEUS_MULTIPROC_DIR": str(self.settings.metrics_dir)}

    def reset_metrics(self) -> None:
        """Counters start from zero with the stack; files of processes from an earlier run would add up."""
        folder = self.settings.metrics_dir
        private_dir(folder)
        for stale in folder.glob("*.db"):
            stale.unlink()

    def prepare(self) -> None:
        """Database schema (+ demo data where wanted: KEFU_DEMO_DATA), and the model: the published one, else
        (nothing published yet) one trained for the current data (bot/published_model.py)."""
        private_dir(self.settings.data_dir)
        prepare_database(Repository(self.settings.database_url), self.settings)
        ensure_demo_agent(self.settings)  # so the agent desk has a login on a fresh install
        if self.model is None:
            self.model, self.publication = model_to_serve(self.settings)

    def start(self, timeout: float = 300) -> "KefuStack":
        self.prepare()
        if self.settings.redis.url:
            self.redis_url = self.settings.redis.url
        else:
            self._redis = start_embedded_redis(self.settings)
            self.redis_url = self._redis.url
        apply_stored_retention(self.settings, self.redis_url)
        self.reset_metrics()
        env = self.child_environment()
        logs = private_dir(self.settings.data_dir / "logs")
        action_log = logs / "actions.log"
        actions = self._spawn(
            action_server_command(self.settings), env, action_log,
        )
        rasa_log = logs / "rasa.log"
        rasa = self._spawn(self.rasa_command(self.settings.rasa_port), env, rasa_log)
        try:
            wait_until_up(f"{self.settings.action_base_url}/health", actions, action_log, timeout)
            wait_until_up(f"{self.settings.rasa_url}/version", rasa, rasa_log, timeout)  # /status needs the token
        except StartupError:
            self.stop()
            raise
        record_serving(self.settings, self._redis.url if self._redis else None)  # so `kefu train` finds this server from any shell
        return self

    def rasa_command(self, port: int) -> list[str]:
        """The Rasa server on ``port``; a second one on another port shares Redis and the actions."""
        root = self.settings.root
        return [
            sys.executable, "-m", "bot.security.rasa_server", "run",
            "--model", str(self.model),
            "--port", str(port),
            "--interface", self.settings.host,
            "--credentials", str(root / "credentials.yml"),
            "--endpoints", str(root / "endpoints.yml"),
            "--enable-api", *cors_arguments(self.settings),
        ]

    def start_extra_rasa_server(self, port: int, workers: int = 1, timeout: float = 300) -> subprocess.Popen:
        """One more Rasa server process on ``port`` over the same Redis, database and action server."""
        env = self.child_environment()
        env.update(SANIC_WORKERS=str(workers))
        log_file = self.settings.data_dir / "logs" / f"rasa-{port}.log"
        process = self._spawn(self.rasa_command(port), env, log_file)
        wait_until_up(f"http://{self.settings.host}:{port}/version", process, log_file, timeout)
        return process

    def _spawn(self, command: list[str], env: dict, log_file: Path) -> subprocess.Popen:
        """Start a server whose output goes, through a pipe, to its size-bounded log (log_files.py)."""
        log = self.logs.get(log_file)
        if log is None:
            log = self.logs[log_file] = BoundedLog(log_file, self.settings.log_max_bytes, self.settings.log_backups)
        self.log_starts[log_file] = log.start()  # why it stops is written after this
        process = subprocess.Popen(
            command, cwd=self.settings.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        process.log_pump = start_pump(process.stdout, log)
        self.processes.append(process)
        return process

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in reversed(self.processes):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for process in self.processes:
            settle(process)  # their last lines are written before anyone reads them
        self.processes.clear()
        for log in self.logs.values():
            log.close()  # opened again by the next start
        forget_serving(self.settings)
        if self._redis is not None:
            self._redis.stop()
            self._redis = None

    def __enter__(self) -> "KefuStack":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
