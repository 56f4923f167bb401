"""The ledger's rules from the editors' ``content/ledger.yml``: due hours per ticket type and step, the repeat window."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

import yaml

from bot.yaml_load import safe_load

STEPS = ("registered", "acted_on", "customer_told", "follow_up_done")


class LedgerRulesError(ValueError):
    """content/ledger.yml cannot be used; the message names the file and the reason."""


@dataclass(frozen=True)
class LedgerRules:
    due_hours: Mapping[str, Mapping[str, float]]  # ticket kind (or "default") -> step -> hours
    repeat_window: dt.timedelta
    step_labels: Mapping[str, str]
    flag_labels: Mapping[str, str]

    def due(self, kind: str, step: str, registered_at: dt.datetime) -> dt.datetime:
        hours = self.due_hours.get(kind, self.due_hours["default"])[step]
        return registered_at + dt.timedelta(hours=hours)


def parse_rules(raw: dict, source: str) -> LedgerRules:
    if not isinstance(raw, dict):
        raise LedgerRulesError(f"{source}: must be a mapping")
    due_hours = raw.get("due_hours") or {}
    if "default" not in due_hours:
        raise LedgerRulesError(f"{source}: due_hours needs a 'default' entry")
    table: dict[str, Mapping[str, float]] = {}
    for kind, steps in due_hours.items():
        missing = [s for s in STEPS[1:] if not isinstance((steps or {}).get(s), (int, float))]
        if missing:
            raise LedgerRulesError(f"{source}: due_hours.{kind} lacks hours for {', '.join(missing)}")
        hours = [float(steps[s]) for s in STEPS[1:]]
        if hours != sorted(hours):
            raise LedgerRulesError(f"{source}: due_hours.{kind}: each step must be due no earlier than the one before")
        table[str(kind)] = MappingProxyType(dict(zip(STEPS[1:], hours)))
    days = raw.get("repeat_window_days")
    if not isinstance(days, (int, float)) or days <= 0:
        raise LedgerRulesError(f"{source}: repeat_window_days must be a positive number")
    return LedgerRules(MappingProxyType(table), dt.timedelta(days=days),
                       MappingProxyType(dict(raw.get("step_labels") or {})),
                       MappingProxyType(dict(raw.get("flag_labels") or {})))


def parse_rules_file(path: Path) -> LedgerRules:
    try:
        return parse_rules(safe_load(path.read_text(encoding="utf-8")), str(path))
    except yaml.YAMLError as exc:
        raise LedgerRulesError(f"{path}: {exc}") from exc
    except (KeyError, TypeError, AttributeError, ValueError) as exc:  # e.g. a list where a mapping belongs
        if isinstance(exc, LedgerRulesError):
            raise
        raise LedgerRulesError(f"{path}: malformed ({type(exc).__name__}: {exc})") from exc


def load_rules(path: Path) -> LedgerRules:
    """The rules' last good version (bot/snapshot.py): a bad save while Kefu runs keeps the desk's ledger
    and glance, and the contacts worker, on the previous one (found in review: they answered 500)."""
    from bot.snapshot import editor_file

    return editor_file(path, parse_rules_file, (LedgerRulesError,)).get()
