"""Operations' targets (``content/kpi.yml``) and the report's labels (``content/ui/report.zh.json``)."""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml


class KpiConfigError(ValueError):
    """content/kpi.yml cannot be used; the message says which setting."""


@dataclass(frozen=True)
class KpiConfig:
    sl_seconds: float = 20
    sl_target: float = 0.8
    timezone: str = "Asia/Shanghai"


def load_kpi_config(content_dir: Path) -> KpiConfig:
    path = content_dir / "kpi.yml"
    if not path.exists():
        return KpiConfig()
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
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


def _zone_of(path: Path) -> ZoneInfo:
    return ZoneInfo(load_kpi_config(path.parent).timezone)


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


def load_labels(content_dir: Path) -> dict[str, str]:
    return json.loads((content_dir / "ui" / "report.zh.json").read_text(encoding="utf-8"))
