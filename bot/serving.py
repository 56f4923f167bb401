"""Where this installation's Rasa server answers, as `kefu run` records it in the data directory.

`kefu train` hot-swaps a new model into the running server. It used to ask only the port in its own
settings, so an editor whose shell lacked the server's ``KEFU_RASA_PORT`` published nothing and was
told "up to date" (found by a tester). The record is what the server's own settings said.
"""
from __future__ import annotations

import json
from pathlib import Path


def _record(settings) -> Path:
    return settings.data_dir / "serving.json"


def record_serving(settings, redis_url: str | None = None) -> None:
    """``redis_url``: the embedded Redis this run started, for commands that must reach the live
    conversations (``kefu customer erase``) while it runs."""
    from bot.security.private_files import write_private_file

    write_private_file(_record(settings), json.dumps({"rasa_url": settings.rasa_url, "redis_url": redis_url}).encode())


def forget_serving(settings) -> None:
    if recorded_url(settings) == settings.rasa_url:
        _record(settings).unlink(missing_ok=True)


def recorded_url(settings) -> str | None:
    try:
        return json.loads(_record(settings).read_text(encoding="utf-8")).get("rasa_url")
    except (OSError, ValueError, AttributeError):
        return None


def recorded_redis_url(settings) -> str | None:
    try:
        return json.loads(_record(settings).read_text(encoding="utf-8")).get("redis_url") or None
    except (OSError, ValueError, AttributeError):
        return None


def serving_urls(settings) -> list[str]:
    """Where a running server may answer: this shell's settings first, then the recorded one."""
    recorded = recorded_url(settings)
    return [settings.rasa_url] + ([recorded] if recorded and recorded != settings.rasa_url else [])
