"""The hotline as a whole (``content/ivr.yml``): opening hours, channel prompts, limits.

Flows say what a caller hears at each step; this file holds what the phone channel itself
says (e.g. "the link was sent to your phone"), how a bot's buttons are read out, and the
numbers operations tune (utterance and call length caps). Re-read when the file changes.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from bot.ivr.call_audio import QUICK_END_FREE_S, QUICK_END_S
from bot.ivr.errors import HotlineConfigError
from bot.ivr.flow_loader import NOTIFY_CHANNELS
from bot.yaml_load import safe_load

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
REQUIRED_PROMPTS = ("sent_to_phone", "send_failed", "bot_unavailable", "technical_problem",
                    "recording_too_short", "line_busy")


@dataclass(frozen=True)
class BusinessHours:
    timezone: ZoneInfo
    days: frozenset[int]  # 0 = Monday
    open: dt.time
    close: dt.time
    closed_dates: frozenset[dt.date]

    def is_open(self, now: dt.datetime) -> bool:
        local = now.astimezone(self.timezone)
        if local.date() in self.closed_dates or local.weekday() not in self.days:
            return False
        return self.open <= local.time() < self.close


@dataclass(frozen=True)
class HotlineConfig:
    default_flow: str
    hours: BusinessHours
    button_template: str  # "{title}请按{digit}"
    prompts: dict[str, str]
    notify_channel: str
    max_call_s: float
    max_utterance_s: float
    bot_turn_timeout_s: float
    max_buttons_read: int
    # Responses after which the caller keys a number or code: every digit belongs to it until # or a
    # pause, even one the flow's node maps elsewhere ("0" for an agent).
    number_prompts: tuple[str, ...] = ()
    agent_button: tuple[str, ...] = ()  # (payload, key): the assistant's agent button, read with that key
    # Responses that take leave of the caller (utter_goodbye): the assistant's part of the call is over.
    goodbye_replies: tuple[str, ...] = ()
    # Caller silence that ends a turn once the recogniser has words (bot.ivr.call_audio).
    end_of_turn_menu_s: float = QUICK_END_S
    end_of_turn_free_s: float = QUICK_END_FREE_S
    hold_audio: str = ""  # absolute path of the WAV looped while a caller waits for an agent; "" = silence
    hold_reminder_every_s: float = 45.0  # how often a waiting caller hears the flow's `hold.reminder`
    # Least hold time between two announcements to a waiting caller (queue updates, the reminder).
    hold_announcement_gap_s: float = 20.0
    # Keys within this long of a rejected number are its typed-ahead rest: no menu choice (bot.ivr.engine).
    typed_ahead_key_s: float = 3.0
    # A turn whose words are only these ("我想", "那个") is an unfinished start: it waits for more speech
    # up to ``unfinished_wait_s`` of silence instead of ending at the quick end of turn (bot.ivr.call_audio).
    unfinished_starts: tuple[str, ...] = ()
    unfinished_wait_s: float = 2.0

    def prompt(self, name: str) -> str:
        return self.prompts[name]

    def link_text(self, links: list[dict]) -> str:
        """The text message carrying the assistant's links (``{"title", "url"}``) to a caller's phone:
        ``link_message`` with a ``link_line`` per link."""
        from bot.ivr.matching import fill

        lines = [fill(self.prompts.get("link_line", "{title} {url}"), link) for link in links]
        return fill(self.prompts.get("link_message", "{links}"), {"links": "\n".join(lines)})


def _time(value, field: str) -> dt.time:
    text = str(value)
    if text == "24:00":
        return dt.time.max
    try:
        return dt.time.fromisoformat(text)
    except ValueError as exc:
        raise HotlineConfigError(f"ivr.yml: business_hours.{field} must be HH:MM, got {value!r}") from exc


def load_hotline_config(path: Path) -> HotlineConfig:
    try:
        raw = safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise HotlineConfigError(f"cannot read {path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise HotlineConfigError(f"{path}: expected a mapping")
    try:
        hours_raw = raw["business_hours"]
        try:
            zone = ZoneInfo(hours_raw.get("timezone", "Asia/Shanghai"))
        except ZoneInfoNotFoundError as exc:
            raise HotlineConfigError(f"{path}: unknown business_hours.timezone") from exc
        unknown_days = set(hours_raw.get("days", DAYS)) - set(DAYS)
        if unknown_days:
            raise HotlineConfigError(f"{path}: business_hours.days has unknown days {sorted(unknown_days)}")
        hours = BusinessHours(
            timezone=zone,
            days=frozenset(DAYS.index(d) for d in hours_raw.get("days", DAYS)),
            open=_time(hours_raw.get("open", "00:00"), "open"),
            close=_time(hours_raw.get("close", "24:00"), "close"),
            closed_dates=frozenset(dt.date.fromisoformat(str(d)) for d in hours_raw.get("closed_dates") or []),
        )
        prompts = {str(k): str(v) for k, v in (raw.get("prompts") or {}).items()}
        missing = [name for name in REQUIRED_PROMPTS if not prompts.get(name)]
        if missing:
            raise HotlineConfigError(f"{path}: prompts.{missing[0]} is missing")
        speech = raw.get("speech") or {}
        limits = raw.get("limits") or {}
        template = speech.get("button")
        if not isinstance(template, str) or "{digit}" not in template:
            raise HotlineConfigError(f"{path}: speech.button must be a text with {{title}} and {{digit}}")
        _check_fills(path, "speech.button", template, ("title", "digit"))
        _check_fills(path, "prompts.link_line", prompts.get("link_line", ""), ("title", "url"))
        _check_fills(path, "prompts.link_message", prompts.get("link_message", ""), ("links",))
        hold = raw.get("hold") or {}
        audio = str(hold.get("audio") or "")
        reminder_every_s = float(hold.get("reminder_every_s", 45))
        if not 2 <= reminder_every_s <= 600:
            raise HotlineConfigError(f"{path}: hold.reminder_every_s must be 2..600 seconds")
        announcement_gap_s = float(hold.get("announcement_gap_s", 20))
        if not 0 <= announcement_gap_s <= 600:
            raise HotlineConfigError(f"{path}: hold.announcement_gap_s must be 0..600 seconds")
        for words in ("unfinished_starts", "number_prompts", "goodbye_replies"):
            if isinstance(speech.get(words), str):  # read character by character: "我想 那个" made 我 a start
                raise HotlineConfigError(f"{path}: speech.{words} must be a list ([我想, 那个, …]), not one text")
        notify_channel = str(raw.get("notify_channel", "sms"))
        if notify_channel not in NOTIFY_CHANNELS:
            raise HotlineConfigError(f"{path}: notify_channel must be one of {list(NOTIFY_CHANNELS)} (a call knows "
                                     "the caller's number, not a WeChat account)")
        return HotlineConfig(
            default_flow=str(raw.get("default_flow", "main")),
            hours=hours,
            button_template=template,
            prompts=prompts,
            notify_channel=notify_channel,
            max_call_s=float(limits.get("max_call_seconds", 1800)),
            max_utterance_s=float(limits.get("max_utterance_seconds", 15)),
            bot_turn_timeout_s=float(limits.get("bot_turn_timeout_seconds", 20)),
            max_buttons_read=int(speech.get("max_buttons_read", 5)),
            number_prompts=tuple(str(name) for name in speech.get("number_prompts") or ()),
            agent_button=_agent_button(speech.get("agent_button"), path),
            goodbye_replies=tuple(str(name) for name in speech.get("goodbye_replies") or ()),
            end_of_turn_menu_s=_end_of_turn(limits, "end_of_turn_menu_seconds", path, QUICK_END_S),
            end_of_turn_free_s=_end_of_turn(limits, "end_of_turn_free_speech_seconds", path, QUICK_END_FREE_S),
            hold_audio=str((Path(path).parent / audio).resolve()) if audio else "",
            hold_reminder_every_s=reminder_every_s,
            hold_announcement_gap_s=announcement_gap_s,
            typed_ahead_key_s=_seconds(limits, "typed_ahead_key_seconds", path, 3.0, 0, 10),
            unfinished_starts=tuple(str(w).strip() for w in speech.get("unfinished_starts") or () if str(w).strip()),
            unfinished_wait_s=_seconds(limits, "unfinished_start_wait_seconds", path, 2.0, 0.5, 5),
        )
    except HotlineConfigError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise HotlineConfigError(f"{path}: malformed ({type(exc).__name__}: {exc})") from exc


def _check_fills(path: Path, where: str, text: str, names: tuple[str, ...]) -> None:
    """A wording Kefu fills in (a button read out, the text carrying links) names only ``names``, in ASCII
    braces: found in review, "{}" failed loading the hotline's settings (IndexError) and `kefu validate`
    with them; {titel} texted links without their titles (bot.ivr.matching.fill leaves it empty)."""
    from bot.contacts.rules import wide_placeholder

    allowed = ", ".join("{" + name + "}" for name in names)
    if (wide := wide_placeholder(text)) is not None:
        raise HotlineConfigError(f"{path}: {where} writes {wide.group(0)} with full-width braces, which would be "
                                 f"sent as written: write {{{wide.group(1)}}}")
    try:
        text.format(**{name: "" for name in names})
    except KeyError as exc:
        raise HotlineConfigError(f"{path}: {where} names {{{exc.args[0]}}}: it may name {allowed}") from None
    except (IndexError, ValueError, AttributeError, TypeError) as exc:
        raise HotlineConfigError(f"{path}: {where} cannot be filled in ({exc}): it may name {allowed}") from None


def _seconds(limits: dict, key: str, path: Path, default: float, low: float, high: float) -> float:
    value = float(limits.get(key, default))
    if not low <= value <= high:
        raise HotlineConfigError(f"{path}: limits.{key} must be between {low:g} and {high:g} seconds")
    return value


def _agent_button(raw, path) -> tuple[str, ...]:
    """``speech.agent_button``: ``{payload: /request_human, key: "0"}``; none: agent buttons are numbered."""
    if not raw:
        return ()
    if not isinstance(raw, dict) or not str(raw.get("payload") or "").startswith("/") \
            or str(raw.get("key", "")) not in tuple("0123456789*#"):
        raise HotlineConfigError(f"{path}: speech.agent_button must be {{payload: /intent, key: one key of the keypad}}")
    return str(raw["payload"]), str(raw["key"])


def _end_of_turn(limits: dict, key: str, path: Path, default: float) -> float:
    """A silence between one VAD frame and the VAD's own end of speech (call_audio.PHONE_VAD)."""
    from bot.ivr.call_audio import PHONE_VAD

    value = float(limits.get(key, default))
    if not PHONE_VAD.frame_ms / 1000 <= value <= PHONE_VAD.end_ms / 1000:
        raise HotlineConfigError(f"{path}: limits.{key} must be between {PHONE_VAD.frame_ms / 1000} "
                                 f"and {PHONE_VAD.end_ms / 1000} seconds")
    return value


class HotlineConfigSource:
    """The current config: its last good version (bot/snapshot.py), so a bad save keeps calls going."""

    def __init__(self, path: Path) -> None:
        from bot.snapshot import editor_file

        self.path = Path(path)
        self._file = editor_file(self.path, load_hotline_config, (HotlineConfigError,))

    def get(self) -> HotlineConfig:
        return self._file.get()
