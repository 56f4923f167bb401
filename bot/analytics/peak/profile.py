"""The hourly arrival profile a ``kefu peak`` run is given (CSV, ``#`` lines are comments).

Columns: ``hour`` (0-23), ``calls`` (arrivals that hour), ``agents`` (on shift), ``aht_s`` (mean
handle time), ``patience_s`` (mean time a caller waits before hanging up); optional
``vip_share`` (0-1, served first). Every problem is reported as ``file:line: message``.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

REQUIRED = ("hour", "calls", "agents", "aht_s", "patience_s")
OPTIONAL = {"vip_share": 0.0}


class ProfileError(ValueError):
    """The profile cannot be modelled; the message says where and why."""


@dataclass(frozen=True)
class HourProfile:
    hour: int
    calls: float
    agents: int
    aht_s: float
    patience_s: float
    vip_share: float = 0.0

    @property
    def calls_per_s(self) -> float:
        return self.calls / 3600


def load_profile(path: Path) -> list[HourProfile]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(f"{path}: cannot read the profile ({exc})") from exc
    return parse_profile(text, str(path))


def parse_profile(text: str, name: str = "profile") -> list[HourProfile]:
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise ProfileError(f"{name}: the profile is empty (expected a header {','.join(REQUIRED)} and one row per hour)")
    reader = csv.DictReader(io.StringIO("\n".join(line for _, line in lines)))
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise ProfileError(f"{name}:{lines[0][0]}: missing column {', '.join(missing)} (have {', '.join(header)})")
    hours, seen = [], set()
    for (number, _), row in zip(lines[1:], reader):
        row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
        hour = _number(row, "hour", name, number, int)
        if not 0 <= hour <= 23 or hour in seen:
            raise ProfileError(f"{name}:{number}: hour {hour} is {'repeated' if hour in seen else 'not 0-23'}")
        seen.add(hour)
        entry = HourProfile(
            hour=hour, calls=_number(row, "calls", name, number, float),
            agents=_number(row, "agents", name, number, int), aht_s=_number(row, "aht_s", name, number, float),
            patience_s=_number(row, "patience_s", name, number, float),
            vip_share=_number(row, "vip_share", name, number, float) if row.get("vip_share") else 0.0)
        _check(entry, name, number)
        hours.append(entry)
    if not hours:
        raise ProfileError(f"{name}: the profile has a header but no hours")
    return sorted(hours, key=lambda h: h.hour)


def _number(row: dict, column: str, name: str, line: int, kind: type):
    value = row.get(column, "")
    try:
        return kind(value)
    except ValueError:
        raise ProfileError(f"{name}:{line}: {column} must be a number, got {value!r}") from None


def _check(entry: HourProfile, name: str, line: int) -> None:
    if entry.calls < 0:
        raise ProfileError(f"{name}:{line}: calls must not be negative, got {entry.calls:g} (hour {entry.hour})")
    if entry.agents < 0:
        raise ProfileError(f"{name}:{line}: agents must not be negative, got {entry.agents} (hour {entry.hour})")
    if entry.aht_s <= 0 or entry.patience_s <= 0:
        raise ProfileError(f"{name}:{line}: aht_s and patience_s must be above zero (hour {entry.hour})")
    if not 0 <= entry.vip_share <= 1:
        raise ProfileError(f"{name}:{line}: vip_share must be between 0 and 1 (hour {entry.hour})")
