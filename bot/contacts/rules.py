"""The contact rules from the editors' ``content/contacts.yml``: what is scheduled, when, by which
channel, and the limits every contact honours (quiet hours, daily attempts, retries).

Read through :func:`bot.snapshot.editor_file`, so a bad save keeps the last good rules and logs why.
"""
from __future__ import annotations

import datetime as dt
import re
import string
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from bot.snapshot import editor_file
from bot.yaml_load import safe_load

TRIGGERS = ("ticket_resolved", "service_change", "repeat_fault", "arrears", "callback")
CHANNELS = ("phone", "wechat", "sms", "agent")
PURPOSES = ("followup", "care", "arrears", "callback")
_RULE_KEYS = {"trigger", "purpose", "delay_hours", "channels", "flow", "message", "ticket_kinds", "service_actions"}
_TOP_KEYS = {"timezone", "quiet_hours", "daily_attempt_limit", "retry", "ring_timeout_s", "call_timeout_s", "rules",
             "opt_out_footer", "opt_out_words", "opt_out_reply", "purposes", "wechat_fields", "late_limit_hours"}
# How long after it first came due a contact may still be first tried, per purpose, unless
# content/contacts.yml says otherwise; one no channel reaches waits for one that long too. Found in review:
# one waiting for a channel went out weeks late once a channel was set up, and a follow-up the planner found
# late (no worker for weeks, a rule added for the last 60 days' repairs) rang about a repair three weeks old.
# A repair's "solved?" or a care message means little a week on; an arrears reminder is a month's, and a few
# days late already; a callback the customer booked is a promise of the day.
LATE_LIMIT_HOURS = MappingProxyType({"followup": 168, "care": 168, "arrears": 72, "callback": 24})
# A WeChat template field's value may name these: the text sent (message + opt-out footer), the
# purpose's label, and the contact's own facts.
FIELD_VALUES = ("text", "label", "ticket_id", "amount")
# The classic template layout (first/keyword1/keyword2/remark), unless content/contacts.yml says otherwise.
CLASSIC_FIELDS = MappingProxyType({"first": "", "keyword1": "{text}", "keyword2": "{label}", "remark": ""})
# What a rule's `message` may name: what its contacts carry (bot/contacts/worker.py contact_values). An
# arrears reminder is about an amount owed, every other trigger about a ticket.
MESSAGE_VALUES = MappingProxyType({"arrears": ("amount",)})
TICKET_VALUES = ("ticket_id",)
WIDE_BRACES = re.compile(r"[{｛]\s*([A-Za-z_]\w*)\s*[}｝]")


class ContactRulesError(ValueError):
    """content/contacts.yml cannot be used; the message names the file and the reason."""


@dataclass(frozen=True)
class ContactRule:
    name: str
    trigger: str
    purpose: str
    delay: dt.timedelta
    channels: tuple[str, ...]
    flow: str = ""            # ivr_flows/<flow>.yml for the phone channel
    message: str = ""         # the text for wechat / sms, naming what its contacts carry (message_values)
    ticket_kinds: tuple[str, ...] = ()
    service_actions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Purpose:
    """What a purpose is called where the customer sees it, and how a WeChat template shows it."""

    label: str
    wechat_fields: Mapping[str, str] = CLASSIC_FIELDS  # template field name -> value, with {text} {label} ...


@dataclass(frozen=True)
class ContactRules:
    timezone: ZoneInfo
    quiet_start: dt.time
    quiet_end: dt.time
    daily_attempt_limit: int
    retry_delays: tuple[dt.timedelta, ...]
    ring_timeout: dt.timedelta
    call_timeout: dt.timedelta
    rules: Mapping[str, ContactRule]
    opt_out_footer: str
    opt_out_words: frozenset[str]
    opt_out_reply: str
    purposes: Mapping[str, Purpose] = MappingProxyType({})
    late_limit: Mapping[str, dt.timedelta] = MappingProxyType(
        {purpose: dt.timedelta(hours=hours) for purpose, hours in LATE_LIMIT_HOURS.items()})

    def wechat_data(self, purpose: str, values: Mapping[str, str]) -> dict[str, dict[str, str]]:
        """A WeChat template message's ``data`` for ``purpose``: each field of its template with its value."""
        shown = self.purposes.get(purpose) or Purpose(label="")
        facts = {name: "" for name in FIELD_VALUES} | dict(values) | {"label": shown.label}
        return {name: {"value": _filled(template, facts)} for name, template in shown.wechat_fields.items()}

    def by_trigger(self, trigger: str) -> list[ContactRule]:
        return [r for r in self.rules.values() if r.trigger == trigger]

    def local(self, now_utc: dt.datetime) -> dt.datetime:
        return now_utc.replace(tzinfo=dt.timezone.utc).astimezone(self.timezone)

    def in_quiet_hours(self, now_utc: dt.datetime) -> bool:
        clock = self.local(now_utc).time()
        if self.quiet_start <= self.quiet_end:
            return self.quiet_start <= clock < self.quiet_end
        return clock >= self.quiet_start or clock < self.quiet_end

    def quiet_hours_end(self, now_utc: dt.datetime) -> dt.datetime:
        """The next end of quiet hours after ``now_utc`` (naive UTC, as the database keeps times)."""
        local = self.local(now_utc)
        end = local.replace(hour=self.quiet_end.hour, minute=self.quiet_end.minute, second=0, microsecond=0)
        if end <= local:
            end += dt.timedelta(days=1)
        return end.astimezone(dt.timezone.utc).replace(tzinfo=None)

    def day_start(self, now_utc: dt.datetime) -> dt.datetime:
        """The start of the customer's local day, in naive UTC (for counting attempts per day)."""
        local = self.local(now_utc).replace(hour=0, minute=0, second=0, microsecond=0)
        return local.astimezone(dt.timezone.utc).replace(tzinfo=None)

    def next_day_open(self, now_utc: dt.datetime) -> dt.datetime:
        """Tomorrow at the end of quiet hours: when a customer who reached the daily limit may be tried again."""
        local = self.local(now_utc).replace(hour=self.quiet_end.hour, minute=self.quiet_end.minute, second=0,
                                            microsecond=0) + dt.timedelta(days=1)
        return local.astimezone(dt.timezone.utc).replace(tzinfo=None)


def _clock(value, where: str, source: str) -> dt.time:
    try:
        return dt.time.fromisoformat(str(value))
    except ValueError:
        raise ContactRulesError(f"{source}: {where} must be a time like \"21:00\", got {value!r}") from None


def _number(raw: dict, key: str, source: str, low: float, default=None) -> float:
    value = raw.get(key, default)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value < low:
        raise ContactRulesError(f"{source}: {key} must be a number >= {low:g}, got {value!r}")
    return float(value)


def parse_rule(name: str, raw, source: str) -> ContactRule:
    where = f"{source}: rules.{name}"
    if not isinstance(raw, dict):
        raise ContactRulesError(f"{where} must be a mapping")
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        raise ContactRulesError(f"{where}: unknown field {sorted(unknown)[0]!r}")
    if raw.get("trigger") not in TRIGGERS:
        raise ContactRulesError(f"{where}.trigger must be one of {list(TRIGGERS)}, got {raw.get('trigger')!r}")
    if raw.get("purpose") not in PURPOSES:
        raise ContactRulesError(f"{where}.purpose must be one of {list(PURPOSES)}, got {raw.get('purpose')!r}")
    channels = raw.get("channels")
    if not isinstance(channels, list) or not channels or any(c not in CHANNELS for c in channels):
        raise ContactRulesError(f"{where}.channels must be a non-empty list of {list(CHANNELS)}, got {channels!r}")
    flow = str(raw.get("flow") or "")
    message = str(raw.get("message") or "")
    if "phone" in channels and not flow:
        raise ContactRulesError(f"{where}: the phone channel needs a `flow` (a file under ivr_flows/)")
    if {"sms", "wechat"} & set(channels) and not message.strip():
        raise ContactRulesError(f"{where}: the sms and wechat channels need a `message`")
    if message and (why := message_mistake(message, raw["trigger"])):
        raise ContactRulesError(f"{where}.message {why}")
    kinds = raw.get("ticket_kinds") or []
    if raw["trigger"] == "ticket_resolved" and not kinds:
        raise ContactRulesError(f"{where}: a ticket_resolved rule needs `ticket_kinds`")
    actions = raw.get("service_actions") or []
    if raw["trigger"] == "service_change" and not actions:
        raise ContactRulesError(f"{where}: a service_change rule needs `service_actions`")
    delay = _number(raw, "delay_hours", where, 0, 0)
    return ContactRule(name=name, trigger=raw["trigger"], purpose=raw["purpose"], delay=dt.timedelta(hours=delay),
                       channels=tuple(channels), flow=flow, message=message,
                       ticket_kinds=tuple(str(k) for k in kinds), service_actions=tuple(str(a) for a in actions))


_FORMAT_ERRORS = (ValueError, KeyError, IndexError, AttributeError, TypeError)


def message_values(trigger: str) -> tuple[str, ...]:
    return MESSAGE_VALUES.get(trigger, TICKET_VALUES)


def wide_placeholder(text: str) -> re.Match | None:
    """A placeholder written with a full-width brace (｛name｝, ｛name}), typed with a Chinese input
    method: no placeholder, read as written."""
    return next((m for m in WIDE_BRACES.finditer(text) if m.group(0)[0] + m.group(0)[-1] != "{}"), None)


def message_mistake(message: str, trigger: str) -> str | None:
    """Why a rule's message would reach customers with a placeholder as written, or None. A text that
    does not fill is sent as the editor wrote it, every placeholder in it unfilled ("工单{ticket_id}")."""
    names = message_values(trigger)
    allowed = ", ".join("{" + name + "}" for name in names)
    wide = wide_placeholder(message)
    if wide is not None:
        return f"writes {wide.group(0)} with full-width braces, which customers would read as written: write {{{wide.group(1)}}}"
    try:
        # Every name it lacks, not the first only: an editor who fixes the one named would still send the other.
        unknown = [name for _, name, _, _ in string.Formatter().parse(message) if name and name not in names]
        if unknown:
            lacking = ", ".join("{" + name + "}" for name in dict.fromkeys(unknown))
            return f"names {lacking}, which a {trigger} contact does not have: it may name {allowed}"
        message.format_map({name: "0" for name in names})
    except _FORMAT_ERRORS as exc:
        return f"cannot be filled in ({exc}): write only {allowed} in braces"
    return None


def _filled(template: str, facts: Mapping[str, str]) -> str:
    """A field's value with the facts in (checked at load by :func:`_fits`; as written if it still fails)."""
    try:
        return template.format_map(facts)
    except _FORMAT_ERRORS:
        return template


def _fits(template: str) -> bool:
    """Whether a field's value formats with text facts (``{amount:d}`` does not: the facts are text)."""
    try:
        template.format_map({name: "" for name in FIELD_VALUES})
    except _FORMAT_ERRORS:
        return False
    return True


def _fields(raw, where: str) -> Mapping[str, str]:
    if not isinstance(raw, dict) or not raw:
        raise ContactRulesError(f"{where} must map template field names to values")
    fields = {}
    for name, value in raw.items():
        value = "" if value is None else str(value)
        try:
            named = {n for _, n, _, _ in string.Formatter().parse(value) if n is not None}
        except ValueError:
            named = {"?"}
        if named - set(FIELD_VALUES) or not _fits(value):
            raise ContactRulesError(f"{where}.{name}: a value may name only {{{'}, {'.join(FIELD_VALUES)}}}, "
                                    f"got {value!r}")
        fields[str(name)] = value
    return MappingProxyType(fields)


def parse_purposes(raw, fields_raw, used: set[str], source: str) -> Mapping[str, Purpose]:
    """Every purpose a rule uses has a label: the customer sees it (a WeChat template message's
    purpose field showed "arrears" and "followup", found by an integrator)."""
    raw = raw or {}
    if not isinstance(raw, dict):
        raise ContactRulesError(f"{source}: purposes must map each purpose to its `label`")
    default = CLASSIC_FIELDS if fields_raw is None else _fields(fields_raw, f"{source}: wechat_fields")
    purposes = {}
    for name in sorted(set(raw) | used):
        entry = raw.get(name)
        where = f"{source}: purposes.{name}"
        if name not in PURPOSES:
            raise ContactRulesError(f"{where}: no such purpose (one of {list(PURPOSES)})")
        if not isinstance(entry, dict) or not str(entry.get("label") or "").strip():
            raise ContactRulesError(f"{where}.label is required (what the customer sees the contact called)")
        unknown = set(entry) - {"label", "wechat_fields"}
        if unknown:
            raise ContactRulesError(f"{where}: unknown field {sorted(unknown)[0]!r}")
        fields = default if entry.get("wechat_fields") is None else _fields(entry["wechat_fields"],
                                                                            f"{where}.wechat_fields")
        purposes[name] = Purpose(label=str(entry["label"]).strip(), wechat_fields=fields)
    return MappingProxyType(purposes)


def parse_late_limit(raw, source: str) -> Mapping[str, dt.timedelta]:
    """``late_limit_hours``: per purpose, hours (> 0); a purpose it leaves out keeps its default."""
    raw = {} if raw is None else raw
    where = f"{source}: late_limit_hours"
    if not isinstance(raw, dict):
        raise ContactRulesError(f"{where} must map purposes to hours, e.g. {{followup: 168}}")
    for purpose in raw:
        if purpose not in PURPOSES:
            raise ContactRulesError(f"{where}.{purpose}: no such purpose (one of {list(PURPOSES)})")
        value = raw[purpose]
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
            raise ContactRulesError(f"{where}.{purpose} must be a number of hours > 0, got {value!r}")
    hours = {**LATE_LIMIT_HOURS, **raw}
    return MappingProxyType({purpose: dt.timedelta(hours=value) for purpose, value in hours.items()})


def parse_rules(raw, source: str) -> ContactRules:
    if not isinstance(raw, dict):
        raise ContactRulesError(f"{source}: must be a mapping")
    if "no_channel_wait_hours" in raw:  # its name before it covered every late contact
        raise ContactRulesError(f"{source}: no_channel_wait_hours is now late_limit_hours (it limits every "
                                "contact made late, not only those waiting for a channel): rename it")
    unknown = set(raw) - _TOP_KEYS
    if unknown:
        raise ContactRulesError(f"{source}: unknown top-level key {sorted(unknown)[0]!r}")
    try:
        zone = ZoneInfo(str(raw.get("timezone") or ""))
    except (ZoneInfoNotFoundError, ValueError):
        raise ContactRulesError(f"{source}: timezone must be an IANA zone like Asia/Shanghai, "
                                f"got {raw.get('timezone')!r}") from None
    quiet = raw.get("quiet_hours")
    if not isinstance(quiet, dict) or set(quiet) != {"start", "end"}:
        raise ContactRulesError(f"{source}: quiet_hours needs `start` and `end`")
    limit = _number(raw, "daily_attempt_limit", source, 1)
    delays = (raw.get("retry") or {}).get("delays_minutes")
    if not isinstance(delays, list) or not all(isinstance(d, (int, float)) and d > 0 for d in delays):
        raise ContactRulesError(f"{source}: retry.delays_minutes must be a list of positive minutes")
    rules = raw.get("rules")
    if not isinstance(rules, dict) or not rules:
        raise ContactRulesError(f"{source}: rules must be a non-empty mapping")
    words = raw.get("opt_out_words") or []
    if not isinstance(words, list) or not words:
        raise ContactRulesError(f"{source}: opt_out_words must list the replies that opt a customer out")
    footer = str(raw.get("opt_out_footer") or "").strip()
    if not footer:
        raise ContactRulesError(f"{source}: opt_out_footer is required (texts must say how to opt out)")
    reply = str(raw.get("opt_out_reply") or "").strip()
    if not reply:
        raise ContactRulesError(f"{source}: opt_out_reply is required (what a customer who replied TD is told)")
    parsed = {str(n): parse_rule(str(n), r, source) for n, r in rules.items()}
    purposes = parse_purposes(raw.get("purposes"), raw.get("wechat_fields"), {r.purpose for r in parsed.values()},
                              source)
    return ContactRules(
        timezone=zone, quiet_start=_clock(quiet["start"], "quiet_hours.start", source),
        quiet_end=_clock(quiet["end"], "quiet_hours.end", source), daily_attempt_limit=int(limit),
        retry_delays=tuple(dt.timedelta(minutes=d) for d in delays),
        ring_timeout=dt.timedelta(seconds=_number(raw, "ring_timeout_s", source, 5, 40)),
        call_timeout=dt.timedelta(seconds=_number(raw, "call_timeout_s", source, 10, 300)),
        rules=MappingProxyType(parsed), purposes=purposes,
        late_limit=parse_late_limit(raw.get("late_limit_hours"), source),
        opt_out_footer=footer, opt_out_words=frozenset(str(w).strip() for w in words), opt_out_reply=reply)


def load_rules(path: Path) -> ContactRules:
    try:
        raw = safe_load(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ContactRulesError(f"{path}: not valid YAML: {exc}") from exc
    except OSError as exc:
        raise ContactRulesError(f"{path}: cannot read the file: {exc.strerror}") from exc
    return parse_rules(raw, str(path))


def current_rules(path: Path) -> ContactRules:
    """The latest good rules (an editor's bad save keeps the previous ones, logged)."""
    return editor_file(path, load_rules, (ContactRulesError,)).get()
