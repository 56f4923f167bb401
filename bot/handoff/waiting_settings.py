"""Settings of the waiting room from ``content/waiting_room.yml`` (re-read when the file changes)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from bot.settings import get_settings
from bot.yaml_load import safe_load


class WaitingRoomSettingsError(ValueError):
    """``content/waiting_room.yml`` has a missing or malformed value."""


@dataclass(frozen=True)
class WaitingRoomSettings:
    webchat_gone_grace_s: float
    rest_silence_grace_s: float
    callback_within_hours: float
    phone_pattern: re.Pattern
    resolved_words: tuple[str, ...]
    unresolved_words: tuple[str, ...]
    leave_words: tuple[str, ...] = ()  # typed instead of pressing 取消排队: the customer stops waiting
    confirm_leave_words: tuple[str, ...] = ()  # typed alone (取消): asked whether to leave the queue
    confirm_leave_within: tuple[str, ...] = ()  # inside a message (我自己再试试): asked whether to leave the queue
    place_words: tuple[str, ...] = ()  # 多久能排到我: told the place in line and the wait
    question_ends: tuple[str, ...] = ()  # 还在排队吗 read as a complaint: a question about the queue
    back_to_waiting_words: tuple[str, ...] = ()  # said to "your number?" (不要回电了): that step ends, the place kept
    number_refused_words: tuple[str, ...] = ()  # ... and, to a callback's number only, 不想给 alone

    def grace_for(self, channel: str) -> float | None:
        """How long a silent customer of ``channel`` stays queued; None: until they leave themselves."""
        return {"webchat": self.webchat_gone_grace_s, "rest": self.rest_silence_grace_s}.get(channel)


def parse_waiting_room(raw: dict) -> WaitingRoomSettings:
    try:
        return WaitingRoomSettings(
            webchat_gone_grace_s=float(raw.get("webchat_gone_grace_s", 600)),
            rest_silence_grace_s=float(raw.get("rest_silence_grace_s", 900)),
            callback_within_hours=float(raw.get("callback_within_hours", 2)),
            phone_pattern=re.compile(str(raw.get("phone_pattern", r"^1[3-9]\d{9}$"))),
            resolved_words=_words(raw, "resolved_words"),
            unresolved_words=_words(raw, "unresolved_words"),
            leave_words=_words(raw, "leave_words"),
            confirm_leave_words=_words(raw, "confirm_leave_words"),
            confirm_leave_within=_words(raw, "confirm_leave_within"),
            place_words=_words(raw, "place_words"),
            question_ends=_words(raw, "question_ends"),
            back_to_waiting_words=_words(raw, "back_to_waiting_words"),
            number_refused_words=_words(raw, "number_refused_words"),
        )
    except (TypeError, ValueError, re.error, AttributeError) as exc:
        raise WaitingRoomSettingsError(f"waiting_room.yml: {exc!r}") from exc


def _words(raw: dict, key: str) -> tuple[str, ...]:
    """A list of words. Found in review: one written as a single text ("leave_words: 不等了，不排了") was read
    as its characters, and a waiting customer who typed anything with 不 or 了 left the queue."""
    words = raw.get(key) or ()
    if not isinstance(words, (list, tuple)):
        raise WaitingRoomSettingsError(f"waiting_room.yml: `{key}` must be a list of words in brackets, "
                                       "[词一, 词二]: as one text each of its characters would be a word")
    return tuple(str(w) for w in words)


def parse_waiting_room_file(path: Path) -> WaitingRoomSettings:
    try:
        raw = safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise WaitingRoomSettingsError(f"waiting_room.yml: {exc}") from exc
    return parse_waiting_room(raw)


def load_waiting_room(path: Path | None = None) -> WaitingRoomSettings:
    """The settings' last good version (bot/snapshot.py): re-read on change, a bad save is logged and ignored."""
    from bot.snapshot import editor_file

    path = path or get_settings().content_dir / "waiting_room.yml"
    return editor_file(path, parse_waiting_room_file, (WaitingRoomSettingsError,)).get()
