"""What ``kefu run`` tells people when a part of Kefu cannot start or stops: which port, which
server, and the log line that says why — and a non-zero exit, so scripts notice too. Once running,
:class:`Keeper` starts a server that stopped again."""
from __future__ import annotations

import errno
import os
import re
import signal
import socket
import time
from pathlib import Path
from typing import Callable

from bot.observability.log_files import settle

# Log lines worth showing first: the reason a server failed, not the last debug line.
REASON = re.compile(r"error|exception|address already in use|errno|traceback|failed|cannot|killed", re.IGNORECASE)


class PortTaken(RuntimeError):
    """Another program already listens on a port Kefu needs."""

    def __init__(self, host: str, port: int, role: str) -> None:
        super().__init__(f"port {port} on {host} ({role}) is already in use by another program; "
                         f"stop it or choose another port")
        self.port = port
        self.role = role


def check_port_free(host: str, port: int, role: str) -> None:
    """Raise PortTaken when ``host:port`` cannot be bound (something else listens there)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                raise PortTaken(host, port, role) from exc
            raise


def reason_lines(log_file: Path, limit: int = 5, tail: int = 200, since: int = 0) -> list[str]:
    """The last lines of a log that explain a failure (or its last lines if none look like a reason);
    only what was written after byte ``since`` (where the log ended when the server started), found in
    the rotated ``log_file.1`` ... too when the log was rotated since (bot/observability/log_files.py)."""
    from bot.observability.log_files import lines_since

    try:
        lines = lines_since(log_file, since).decode("utf-8", errors="replace").splitlines()[-tail:]
    except OSError:
        return []
    reasons = [line for line in lines if REASON.search(line)]
    return (reasons or lines)[-limit:]


def log_size(log_file: Path) -> int:
    """Where ``log_file`` ends now, and which file that is (it may be rotated before it is read)."""
    from bot.observability.log_files import LogStart

    try:
        status = log_file.stat()
    except OSError:
        return 0
    return LogStart(status.st_size, status.st_ino)


def how_it_ended(returncode: int | None) -> str:
    """``exit code 1``, or for a process killed by a signal its name (``-7`` told an SRE nothing)."""
    if returncode is not None and returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"died of {name} (exit code {returncode})"
    return f"stopped (exit code {returncode})"


def describe_exit(role: str, returncode: int | None, log_file: Path, since: int = 0,
                  data_dir: Path | None = None) -> str:
    """What ``kefu run`` prints when a server ends: how, the free space of the data folder when that
    may be why (a signal, or too little room), and the log lines written since it started."""
    from bot.observability.disk_space import START_MIN_FREE_BYTES, describe, free_bytes

    text = f"Kefu's {role} {how_it_ended(returncode)}"
    if data_dir is not None:
        free = free_bytes(data_dir)
        if (returncode is not None and returncode < 0) or (free is not None and free < START_MIN_FREE_BYTES):
            text += f" — {describe(data_dir, free)}"
            if returncode == -signal.SIGBUS:
                text += " (SIGBUS is what a full disk does to its memory-mapped metric files)"
    found = reason_lines(log_file, since=since)
    if not found:
        return f"{text}; nothing was written to {log_file} since it started"
    lines = "\n".join(f"    {line}" for line in found)
    return f"{text}; from {log_file}:\n{lines}"


class Keeper:
    """Starts the stack's servers again when one stops, instead of stopping the whole instance.

    ``kefu run`` used to tear everything down when its action server died, and nothing brought the
    instance back. Each server (``roles`` in ``stack.processes`` order) that exits is started again
    with the stack's environment after a back-off (1 s, doubling to 60 s while it keeps dying within
    a minute of its start, see :mod:`bot.sanic_workers`). Rasa's ``/health`` is 503 meanwhile.

    ``commands``: for a role whose command must be built at each start, the function that builds it
    (the Rasa server's names the model published since, ``stack.model``, not the one it first started
    with); other roles start again with the command they first started with.
    """

    def __init__(self, stack, roles: list[tuple[str, Path]],
                 commands: dict[str, Callable[[], list[str]]] | None = None) -> None:
        self.stack = stack
        self.commands = commands or {}
        settings = getattr(stack, "settings", None)
        self.data_dir = settings.data_dir if settings is not None else None
        # Log lines from before a start are not why it stopped (an SRE was shown 10-minute-old ones).
        self.entries = [{"role": role, "log": log_file, "process": process, "command": list(process.args),
                         "started": time.monotonic(), "quick_deaths": 0, "restart_at": None,
                         "log_from": getattr(stack, "log_starts", {}).get(log_file, 0)}
                        for (role, log_file), process in zip(roles, stack.processes)]
        embedded = getattr(stack, "_redis", None)
        self.redis = {"quick_deaths": 0, "started": time.monotonic(), "restart_at": None,
                      "log_from": log_size(embedded.log_file) if embedded is not None else 0}

    def too_full(self) -> str | None:
        from bot.observability.disk_space import too_full_to_start

        return too_full_to_start(self.data_dir) if self.data_dir is not None else None

    def tick(self, now: float | None = None) -> list[str]:
        """Notice servers that exited and start those whose back-off is over; what to tell the operator."""
        from bot.sanic_workers import STEADY_AFTER_S, backoff_seconds

        now = time.monotonic() if now is None else now
        told = self.tick_embedded_redis(now)
        for entry in self.entries:
            process = entry["process"]
            if entry["restart_at"] is None and process.poll() is not None:
                lived = now - entry["started"]
                entry["quick_deaths"] = 0 if lived >= STEADY_AFTER_S else entry["quick_deaths"] + 1
                delay = backoff_seconds(entry["quick_deaths"])
                entry["restart_at"] = now + delay
                if process in self.stack.processes:
                    self.stack.processes.remove(process)
                _kill_group(process)  # its workers, if only the main process died
                settle(process)  # its last lines, the reason, reach its log first
                told.append(describe_exit(entry["role"], process.returncode, entry["log"], entry["log_from"],
                                          self.data_dir)
                            + f"\n  starting it again in {delay:.0f}s")
            elif entry["restart_at"] is not None and entry["restart_at"] <= now:
                full = self.too_full()
                if full:  # it would only die again (SIGBUS on its metric files); wait for room
                    entry["quick_deaths"] += 1
                    delay = backoff_seconds(entry["quick_deaths"])
                    entry["restart_at"] = now + delay
                    told.append(f"Kefu's {entry['role']} is not started again: {full}; checking again in {delay:.0f}s")
                    continue
                try:
                    if entry["role"] in self.commands:
                        entry["command"] = self.commands[entry["role"]]()
                    entry["log_from"] = log_size(entry["log"])
                    entry["process"] = self.stack._spawn(entry["command"], self.stack.child_environment(),
                                                         entry["log"])
                except Exception as exc:  # noqa: BLE001 - the keeper must outlive a failed start, and try again
                    entry["quick_deaths"] += 1
                    delay = backoff_seconds(entry["quick_deaths"])
                    entry["restart_at"] = now + delay
                    told.append(f"Kefu's {entry['role']} could not be started again ({type(exc).__name__}: {exc}); "
                                f"trying again in {delay:.0f}s")
                    continue
                entry["started"], entry["restart_at"] = now, None
                told.append(f"Kefu's {entry['role']} started again (pid {entry['process'].pid})")
        return told


    def tick_embedded_redis(self, now: float) -> list[str]:
        """The embedded Redis (none with REDIS_URL) started again on its port when it died, so the servers,
        which were given its URL, reconnect; its append-only file brings the conversations back."""
        from bot.embedded_redis import EmbeddedRedisError
        from bot.sanic_workers import STEADY_AFTER_S, backoff_seconds

        server, state = getattr(self.stack, "_redis", None), self.redis
        if server is None or server.process is None and state["restart_at"] is None:
            return []
        if state["restart_at"] is None:
            if server.process.poll() is None:
                return []
            returncode = server.process.returncode
            lived = now - state["started"]
            state["quick_deaths"] = 0 if lived >= STEADY_AFTER_S else state["quick_deaths"] + 1
            delay = 0.0 if state["quick_deaths"] == 0 else backoff_seconds(state["quick_deaths"])
            state["restart_at"] = now + delay
            server.stop()  # its threads; its last lines reach redis.log
            return [describe_exit("embedded Redis", returncode, server.log_file, state["log_from"], self.data_dir)
                    + f"\n  starting it again on port {server.port} in {delay:.0f}s"]
        if state["restart_at"] > now:
            return []
        state["log_from"] = log_size(server.log_file)
        server.port_given = True  # the servers know this port: never another
        try:
            server.start()
        except EmbeddedRedisError as exc:
            state["quick_deaths"] += 1
            delay = backoff_seconds(state["quick_deaths"])
            state["restart_at"] = now + delay
            return [f"Kefu's embedded Redis could not be started again ({exc}); trying again in {delay:.0f}s"]
        state["started"], state["restart_at"] = now, None
        return [f"Kefu's embedded Redis started again (pid {server.process.pid}, port {server.port})"]


def _kill_group(process) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
