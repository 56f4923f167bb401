"""Operations' targets (``content/kpi.yml``) and the report's labels (``content/ui/report.zh.json``)."""
from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.yaml_load import safe_load


class KpiConfigError(ValueError):
    """content/kpi.yml cannot be used; the message says which setting."""


@dataclass(frozen=True)
class KpiConfig:
    sl_seconds: float = 20
    sl_target: float = 0.8
    timezone: str = "Asia/Shanghai"
    # The longest a customer waits in the queue (``max_wait_s`` in content/handoff.yml; 0: no limit): a wait the
    # record shows open past it has ended unrecorded (bot/analytics/contacts.py ``UNKNOWN``).
    max_wait_s: float = 0.0


def load_kpi_config(content_dir: Path) -> KpiConfig:
    """kpi.yml's settings, with the queue's ``max_wait_s`` the reports read contacts with."""
    return dataclasses.replace(kpi_file(content_dir / "kpi.yml"), max_wait_s=_max_wait_s(content_dir))


def kpi_file(path: Path) -> KpiConfig:
    """What content/kpi.yml itself says (defaults without the file): its live check and the centre's zone need no
    more, and a handoff.yml of the queue's is not theirs to read (it has its own check)."""
    if not path.exists():
        return KpiConfig()
    raw = safe_load(path.read_text(encoding="utf-8")) or {}
    level = (raw.get("service_level") or {}) if isinstance(raw, dict) else None
    if not isinstance(level, dict):
        raise KpiConfigError(f"{path}: needs `service_level` and `timezone` keys at its top level, "
                             "`service_level` holding `seconds` and `target`")
    try:
        config = KpiConfig(sl_seconds=float(level.get("seconds", 20)), sl_target=float(level.get("target", 0.8)),
                           timezone=str(raw.get("timezone", "Asia/Shanghai")))
        ZoneInfo(config.timezone)
    except (TypeError, ValueError, ZoneInfoNotFoundError) as exc:
        raise KpiConfigError(f"{path}: {exc}") from exc
    if config.sl_seconds <= 0 or not 0 < config.sl_target <= 1:
        raise KpiConfigError(f"{path}: service_level needs seconds > 0 and 0 < target <= 1")
    return config


def _max_wait_s(content_dir: Path) -> float:
    """The queue's ``max_wait_s`` (its last good version, as the waiting room reads it); 0 without the file."""
    from bot.handoff.rules import HandoffRulesError, load_rules

    path = content_dir / "handoff.yml"
    try:
        return load_rules(path).max_wait_s if path.exists() else 0.0
    except HandoffRulesError as exc:
        raise KpiConfigError(str(exc)) from exc


def _zone_of(path: Path) -> ZoneInfo:
    return ZoneInfo(kpi_file(path).timezone)


def centre_zone(content_dir: Path | None = None) -> ZoneInfo:
    """The centre's zone (``timezone`` in content/kpi.yml): the one zone every time people read is in —
    the report, the desk and its ledger page, ``kefu ledger list`` and ``kefu contacts list``."""
    from bot.settings import get_settings
    from bot.snapshot import editor_file

    path = (content_dir or get_settings().content_dir) / "kpi.yml"
    return editor_file(path, _zone_of, (KpiConfigError,)).get() if path.exists() else ZoneInfo(KpiConfig.timezone)


def local_time(moment: dt.datetime, zone: ZoneInfo) -> str:
    """A stored time (naive UTC, or aware) as people read it in ``zone`` (the caller names the zone once)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)
    return aware.astimezone(zone).strftime("%Y-%m-%d %H:%M")


class ReportLabelsError(ValueError):
    """content/ui/report.zh.json cannot be used; the message names the label and the reason."""


# The report's labels it fills in (bot/analytics/report/html.py), with a value of the kind each is given;
# ``*`` ends a family of labels (one per figure). Found in review: a label naming what it is not given
# ("{from}") or with full-width braces passed `kefu validate`, and `kefu report` ended in a traceback.
FILLED_LABELS: dict[str, dict[str, object]] = {
    "period": {"start": dt.date(2026, 11, 1), "end": dt.date(2026, 11, 30), "timezone": "Asia/Shanghai"},
    "period_hours": {"hours": "19:00-21:00", "timezone": "Asia/Shanghai"},
    "period_zone_note": {"timezone": "Asia/Shanghai"},
    "period_future": {"timezone": "Asia/Shanghai"},
    "generated": {"at": "2026-12-01 08:00", "timezone": "Asia/Shanghai"},
    "column_score": {"score": 5},
    "ledger_title": {"month": "2026-11"},
    "kpi_*": {"seconds": "20"},
    "def_*": {"seconds": "20"},
}


# The code that shows the labels, each read as ``L["name"]`` or ``labels["name"]``.
LABEL_READERS = ("report/html.py", "report/charts.py", "peak/chart.py")


@functools.cache
def labels_read() -> frozenset[str]:
    """The labels the report's and the peak chart's code read by name: one missing ended `kefu report`
    (or `kefu peak`) in a KeyError traceback after reading the whole period."""
    import ast

    names = set()
    for module in LABEL_READERS:
        for node in ast.walk(ast.parse((Path(__file__).parent / module).read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id in ("L", "labels")
                    and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str)):
                names.add(node.slice.value)
    return frozenset(names)


def label_mistakes(labels: dict) -> list[tuple[str, str]]:
    """(label, why) for each label the report reads that is missing, or fills in and does not fill."""
    from bot.contacts.rules import wide_placeholder

    from bot.analytics.report.label_names import built_labels

    mistakes = [(key, f"'{key}' is missing: the report shows it") for key in sorted(labels_read() - set(labels))
                if key not in FILLED_LABELS]
    mistakes += [(key, f"'{key}' is missing: the report shows it (one of the labels it names by an outcome, "
                       "a ticket stage, a figure, a chart line or a channel)") for key in built_labels() if key not in labels]
    for pattern, values in FILLED_LABELS.items():
        keys = [k for k in labels if k.startswith(pattern[:-1])] if pattern.endswith("*") else [pattern]
        allowed = ", ".join("{" + name + "}" for name in values)
        for key in keys:
            text = labels.get(key)
            if not isinstance(text, str):
                mistakes.append((key, f"'{key}' is missing: the report fills it in ({allowed})"))
            elif (wide := wide_placeholder(text)) is not None:
                mistakes.append((key, f"'{key}' writes {wide.group(0)} with full-width braces, which would be "
                                      f"shown as written: write {{{wide.group(1)}}}"))
            else:
                try:
                    text.format(**values)
                except (KeyError, IndexError, ValueError, AttributeError, TypeError) as exc:
                    mistakes.append((key, f"'{key}' cannot be filled in ({exc!r}): it may name {allowed}"))
    return mistakes


def load_labels(content_dir: Path) -> dict[str, str]:
    path = content_dir / "ui" / "report.zh.json"
    labels = json.loads(path.read_text(encoding="utf-8"))
    mistakes = label_mistakes(labels) if isinstance(labels, dict) else [("", "expected an object of labels")]
    if mistakes:
        raise ReportLabelsError(f"{path}: {mistakes[0][1]} (kefu validate names every one)")
    return labels
