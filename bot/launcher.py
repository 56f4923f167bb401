"""What ``kefu run`` tells people when a part of Kefu cannot start or stops: which port, which
server, and the log line that says why — and a non-zero exit, so scripts notice too."""
from __future__ import annotations

import errno
import re
import socket
from pathlib import Path

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
