"""Redis replies as text.

Kefu's handoff and security clients read raw replies (the queue keeps scores and JSON side by side),
so a value is decoded where it is used — by this one rule rather than a copy in every module."""
from __future__ import annotations

from typing import Any


def as_text(value: Any) -> str:
    """``value`` (bytes from Redis, or already text) as a ``str``."""
    return value.decode() if isinstance(value, bytes) else str(value)


def as_text_or_none(value: Any) -> str | None:
    """Like :func:`as_text`, but a missing value (``None``) stays missing."""
    return None if value is None else as_text(value)
