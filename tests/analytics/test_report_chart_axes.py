"""The report's hour charts put every hour in its place: found in review, only the hours that had contacts
were drawn, side by side, so a morning at 08 and the evening peak at 19 stood next to each other and a
supervisor read 19:00 as the hour after 08:00. A real database, the report as ``kefu report`` builds it."""
from __future__ import annotations

import datetime as dt

from bot.analytics.config import load_kpi_config, load_labels
from bot.analytics.report import charts
from bot.analytics.report.data import build_report
from bot.analytics.report.period import period
from bot.db.repository import Repository
from bot.ledger.rules import load_rules
from bot.outcomes.events import outcome_event
from bot.outcomes.store import write_events

DAY = dt.datetime(2026, 3, 9, 0, 0)  # 08:00 on 2026-03-09 in Beijing


def at(hour: int, minute: int = 0) -> dt.datetime:
    return DAY + dt.timedelta(hours=hour - 8, minutes=minute)


def report(kefu_env, hours: str | None = None):
    repository = Repository(kefu_env.database_url)
    write_events(repository.engine, [
        outcome_event("m1", "contact_started", channel="webchat", at=at(8, 10)),
        outcome_event("m1", "handoff_requested", channel="webchat", skill="tv", at=at(8, 11)),
        outcome_event("m1", "handoff_queued", channel="webchat", skill="tv", at=at(8, 11)),
        outcome_event("m1", "handoff_claimed", channel="webchat", skill="tv", wait_s=12, agent_id="liu",
                      at=at(8, 11)),
        outcome_event("p1", "contact_started", channel="ivr", at=at(19, 30)),
        outcome_event("p2", "contact_started", channel="webchat", at=at(20, 5))])
    config = load_kpi_config(kefu_env.content_dir)
    return build_report(repository, period("2026-03-09", "2026-03-09", config.timezone, hours=hours), config,
                        load_rules(kefu_env.content_dir / "ledger.yml"))


def hour_axis(fig) -> list[str]:
    fig.canvas.draw()
    return [label.get_text() for label in fig.axes[0].get_xticklabels()]


def test_the_hour_charts_of_a_day_show_every_hour_in_order(kefu_env):
    data = report(kefu_env)
    labels = load_labels(kefu_env.content_dir)
    every_hour = [f"{h:02d}" for h in range(24)]
    assert hour_axis(charts.volume_figure(data, labels)) == every_hour
    assert hour_axis(charts.asa_figure(data, labels)) == every_hour


def test_the_hour_charts_of_a_peak_report_show_its_hours(kefu_env):
    data = report(kefu_env, hours="19-22")
    labels = load_labels(kefu_env.content_dir)
    assert hour_axis(charts.volume_figure(data, labels)) == ["19", "20", "21"]
    assert hour_axis(charts.asa_figure(data, labels)) == ["19", "20", "21"]


def test_the_trend_chart_shows_every_day_of_the_period(kefu_env):
    """A day without contacts (a holiday, an outage) was left out of the containment and FCR trend, so the
    days on either side of it stood together."""
    report(kefu_env)  # contacts on 2026-03-09 only
    repository = Repository(kefu_env.database_url)
    write_events(repository.engine, [outcome_event("n1", "contact_started", channel="webchat",
                                                   at=at(10) + dt.timedelta(days=2))])
    config = load_kpi_config(kefu_env.content_dir)
    data = build_report(repository, period("2026-03-09", "2026-03-11", config.timezone), config,
                        load_rules(kefu_env.content_dir / "ledger.yml"))
    assert hour_axis(charts.trend_figure(data, load_labels(kefu_env.content_dir))) == [
        "2026-03-09", "2026-03-10", "2026-03-11"]
