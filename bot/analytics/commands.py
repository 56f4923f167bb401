"""The analytics commands of ``kefu``: ``report`` and ``peak``."""
from __future__ import annotations

from bot.analytics.peak.command import register as register_peak


def register(commands) -> None:
    from bot.analytics.report.command import register as register_report

    register_report(commands)
    register_peak(commands)
