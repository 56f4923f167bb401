"""The analytics commands of ``kefu``: ``report``, ``compare`` and ``peak``."""
from __future__ import annotations

from bot.analytics.peak.command import register as register_peak


def register(commands) -> None:
    from bot.analytics.compare import register as register_compare
    from bot.analytics.report.command import register as register_report

    register_report(commands)
    register_compare(commands)
    register_peak(commands)
