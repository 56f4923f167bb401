"""How many processes serve Kefu: ``KEFU_WORKERS`` Rasa server workers and enough action servers.

Rasa 3.6 runs ``SANIC_WORKERS`` forked Sanic workers on one port (``SO_REUSEPORT``) when the
lock store is Redis; every worker loads the model and keeps all state in Redis or the database,
so any worker can take any turn. A web-chat or phone WebSocket stays on the worker that accepted
it; everything else that must reach it goes through Redis (Socket.IO's Redis manager, pub/sub).
The action server gets as many workers, so it is never the queue in front of Rasa.
"""
from __future__ import annotations

import os

from bot.settings import SettingError


class WorkerConfigError(SettingError):
    """KEFU_WORKERS is not a positive whole number."""


def worker_count(env: dict) -> int:
    """``KEFU_WORKERS`` or, by default, the number of cores."""
    raw = (env.get("KEFU_WORKERS") or "").strip()
    if not raw:
        return max(1, os.cpu_count() or 1)
    try:
        count = int(raw)
    except ValueError as error:
        raise WorkerConfigError(f"KEFU_WORKERS must be a whole number, not {raw!r}") from error
    if count < 1:
        raise WorkerConfigError(f"KEFU_WORKERS must be at least 1, not {count}")
    return count


def worker_environment(env: dict) -> dict[str, str]:
    """Variables that make the Rasa and action servers start that many workers."""
    count = worker_count(env)
    return {"SANIC_WORKERS": str(count), "ACTION_SERVER_SANIC_WORKERS": str(count)}
