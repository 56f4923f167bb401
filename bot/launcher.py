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


def reason_lines(log_file: Path, limit: int = 5, tail: int = 200) -> list[str]:
    """The last lines of a log that explain a failure (or its last lines if none look like a reason)."""
    try:
        lines = log_file.read_text(encoding="utf-8", errors="replace").splitlines()[-tail:]
    except OSError:
        return []
    reasons = [line for line in lines if REASON.search(line)]
    return (reasons or lines)[-limit:]


def describe_exit(role: str, returncode: int | None, log_file: Path) -> str:
    lines = "\n".join(f"    {line}" for line in reason_lines(log_file))
    return f"Kefu's {role} stopped (exit code {returncode}); from {log_file}:\n{lines}"


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
        self.entries = [{"role": role, "log": log_file, "process": process, "command": list(process.args),
                         "started": time.monotonic(), "quick_deaths": 0, "restart_at": None}
                        for (role, log_file), process in zip(roles, stack.processes)]

    def tick(self, now: float | None = None) -> list[str]:
        """Notice servers that exited and start those whose back-off is over; what to tell the operator."""
        from bot.sanic_workers import STEADY_AFTER_S, backoff_seconds

        now = time.monotonic() if now is None else now
        told = []
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
                told.append(describe_exit(entry["role"], process.returncode, entry["log"])
                            + f"\n  starting it again in {delay:.0f}s")
            elif entry["restart_at"] is not None and entry["restart_at"] <= now:
                try:
                    if entry["role"] in self.commands:
                        entry["command"] = self.commands[entry["role"]]()
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


def _kill_group(process) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
