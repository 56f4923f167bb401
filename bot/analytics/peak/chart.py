"""The peak model's chart: ASA and abandonment per hour, without and with Kefu."""
from __future__ import annotations

from bot.analytics.charts import figure, png
from bot.analytics.peak.model import HourComparison


def peak_chart(rows: list[HourComparison], labels: dict[str, str]) -> bytes:
    fig, left = figure(9, 4)
    hours = [f"{r.profile.hour:02d}" for r in rows]
    asa = [[(getattr(r, side).simulated.asa_s or 0) for r in rows] for side in ("without", "with_kefu")]
    abandon = [[(getattr(r, side).simulated.abandonment or 0) for r in rows] for side in ("without", "with_kefu")]
    x = range(len(rows))
    left.bar([i - 0.2 for i in x], asa[0], width=0.4, color="#d9534f", label=labels["peak_asa_without"])
    left.bar([i + 0.2 for i in x], asa[1], width=0.4, color="#5cb85c", label=labels["peak_asa_with"])
    left.set_xticks(list(x), hours)
    left.set_xlabel(labels["axis_hour"])
    left.set_ylabel(labels["axis_seconds"])
    right = left.twinx()
    right.plot(list(x), abandon[0], "o--", color="#a94442", label=labels["peak_abandon_without"])
    right.plot(list(x), abandon[1], "o-", color="#3c763d", label=labels["peak_abandon_with"])
    right.set_ylabel(labels["axis_share"])
    right.set_ylim(0, max(0.05, max(abandon[0] + abandon[1]) * 1.2))
    left.set_title(labels["peak_title"])
    handles = left.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    names = left.get_legend_handles_labels()[1] + right.get_legend_handles_labels()[1]
    left.legend(handles, names, loc="upper left", fontsize=8)
    return png(fig)
