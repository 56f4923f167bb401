"""The report's charts as PNG bytes (labels from content/ui/report.zh.json)."""
from __future__ import annotations

import datetime as dt

from bot.analytics.charts import figure, png
from bot.analytics.report.data import ReportData
from bot.analytics.report.label_names import TREND_LINES

COLOURS = ("#337ab7", "#5cb85c", "#f0ad4e", "#d9534f", "#5bc0de", "#777777")


def chart_hours(data: ReportData) -> list[str]:
    """Every local hour of the report (its ``--hours``, else the whole day), in order: drawn only where there
    were contacts, the hours stood side by side and 19:00 read as the hour after 08:00 (found in review)."""
    return [f"{hour:02d}" for hour in (data.period.hours if data.period.hours is not None else range(24))]


def channel_name(labels: dict, channel: str) -> str:
    return labels.get(f"channel_{channel}", channel)


def volume_chart(data: ReportData, labels: dict) -> bytes:
    return png(volume_figure(data, labels))


def volume_figure(data: ReportData, labels: dict):
    fig, ax = figure()
    hours = chart_hours(data)
    channels = sorted({c for _, c in data.volume})
    bottom = [0] * len(hours)
    for colour, channel in zip(COLOURS * 3, channels):
        counts = [data.volume.get((h, channel), 0) for h in hours]
        ax.bar(hours, counts, bottom=bottom, color=colour, label=channel_name(labels, channel))
        bottom = [b + c for b, c in zip(bottom, counts)]
    ax.set(title=labels["volume_title"], xlabel=labels["axis_hour"], ylabel=labels["axis_contacts"])
    ax.legend(fontsize=8)
    return fig


def trend_chart(data: ReportData, labels: dict) -> bytes:
    return png(trend_figure(data, labels))


def chart_days(data: ReportData) -> list[str]:
    """Every day of the period, in order: a day without contacts is a gap in the trend, not left out."""
    count = (data.period.last - data.period.first).days + 1
    return [(data.period.first + dt.timedelta(days=n)).isoformat() for n in range(count)]


def trend_figure(data: ReportData, labels: dict):
    fig, ax = figure()
    days = chart_days(data)
    for key, colour in zip(TREND_LINES, (COLOURS[1], COLOURS[0])):
        values = [getattr(data.by_day[d], key) if d in data.by_day else None for d in days]
        ax.plot(days, [v if v is not None else float("nan") for v in values], "o-", color=colour,
                label=labels[f"legend_{key}"])
    ax.set(title=labels["trend_title"], xlabel=labels["axis_day"], ylabel=labels["axis_share"], ylim=(0, 1.05))
    ax.legend(fontsize=8)
    return fig


def asa_chart(data: ReportData, labels: dict) -> bytes:
    return png(asa_figure(data, labels))


def asa_figure(data: ReportData, labels: dict):
    fig, ax = figure()
    hours = chart_hours(data)
    asa = [(data.by_hour[h].asa_s if h in data.by_hour else None) or 0 for h in hours]
    ax.bar(hours, asa, color=COLOURS[0], label=labels["legend_asa"])
    ax.set(title=labels["asa_title"], xlabel=labels["axis_hour"], ylabel=labels["axis_seconds"])
    level = ax.twinx()
    values = [data.by_hour[h].service_level if h in data.by_hour else None for h in hours]
    level.plot(hours, [v if v is not None else float("nan") for v in values], "o-", color=COLOURS[1],
               label=labels["legend_service_level"])
    level.axhline(data.config.sl_target, color=COLOURS[3], linestyle="--", label=labels["legend_target"])
    level.set(ylabel=labels["axis_share"], ylim=(0, 1.05))
    handles, names = ax.get_legend_handles_labels()
    more, more_names = level.get_legend_handles_labels()
    ax.legend(handles + more, names + more_names, fontsize=8, loc="upper left")
    return fig


def intents_chart(data: ReportData, labels: dict, titles: dict | None = None) -> bytes:
    fig, ax = figure(8, max(2.4, 0.35 * len(data.top_intents) + 1))
    names = [(titles or {}).get(name, name) for name, _ in reversed(data.top_intents)]
    ax.barh(names, [n for _, n in reversed(data.top_intents)], color=COLOURS[0])
    ax.set(title=labels["intents_title"], xlabel=labels["column_contacts"])
    return png(fig)


def selfhelp_chart(data: ReportData, labels: dict, titles: dict | None = None) -> bytes:
    fig, ax = figure(8, max(2.4, 0.35 * len(data.selfhelp) + 1))
    rows = list(reversed(data.selfhelp))
    ax.barh([(titles or {}).get(r.entry, r.entry) for r in rows], [r.success or 0 for r in rows], color=COLOURS[1])
    ax.set(title=labels["selfhelp_title"], xlabel=labels["column_success"], xlim=(0, 1))
    return png(fig)
