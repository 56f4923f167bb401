"""Doing harm to a running stack on purpose: stop, kill and restart its parts, poll for recovery.

Shared by the fault tests and ``bench/soak.py``. Everything stays on 127.0.0.1 and is bounded in time.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time

import requests

from bot.stack import KefuStack


def wait_for(predicate, timeout: float, what: str, every: float = 0.2):
    """Poll ``predicate`` until it returns something truthy; its value, or AssertionError naming ``what``."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except (requests.RequestException, OSError) as exc:
            last_error = exc
        time.sleep(every)
    raise AssertionError(f"{what} did not happen within {timeout:.0f}s (last error: {last_error!r})")


def process_running(stack: KefuStack, module: str) -> subprocess.Popen:
    """The stack's process started with ``python -m <module>`` (``bot.security.rasa_server`` or ``bot.security.action_server``)."""
    for process in stack.processes:
        args = list(process.args)
        if "-m" in args and args[args.index("-m") + 1] == module and process.poll() is None:
            return process
    raise LookupError(f"no running {module} process in the stack")


def kill(stack: KefuStack, module: str, sig: int = signal.SIGKILL) -> list:
    """Signal the process group of ``module``; the command line to start it again."""
    process = process_running(stack, module)
    os.killpg(process.pid, sig)
    process.wait(timeout=30)
    stack.processes.remove(process)
    return list(process.args)


def restart(stack: KefuStack, command: list, log_name: str) -> subprocess.Popen:
    """Start a killed server again with the stack's environment, appending to its log."""
    return stack._spawn(command, stack.child_environment(), stack.settings.data_dir / "logs" / log_name)


def restart_redis(stack: KefuStack, down_for: float = 0.0) -> None:
    """Stop the embedded Redis (it writes its append-only file) and start it on the same port."""
    server = stack._redis
    assert server is not None, "the stack uses an external Redis; this fault needs the embedded one"
    server.stop()
    time.sleep(down_for)
    server.start()


def say(stack: KefuStack, sender: str, text: str, timeout: float = 60) -> requests.Response:
    return requests.post(f"{stack.settings.rasa_url}/webhooks/rest/webhook",
                         json={"sender": sender, "message": text}, timeout=timeout)


def texts(reply: requests.Response) -> list[str]:
    return [m.get("text") or "" for m in reply.json()]
