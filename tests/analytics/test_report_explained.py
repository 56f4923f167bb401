"""What a manager reads in the report: waits beyond a mean, a definition under every figure, and days
said to be the centre's (found by a tester: waits of 55 to 123 s were "ASA 93 s", nothing was defined, and
the UTC date of the peak gave "0 contacts" with no hint why)."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from bot.db.repository import engine_for
from bot.outcomes.events import outcome_event
from bot.outcomes.store import write_events
from tests.analytics.test_report import report_of  # noqa: F401 (fixture)
from tests.conftest import PROJECT_ROOT

T0 = dt.datetime(2026, 12, 2, 16, 36)  # 2026-12-03 00:36 in the centre's zone
ANSWERED = (54.8, 61.8, 62.1, 88.8, 105.8, 122.9)  # the peak night's answered waits
GAVE_UP = (27.4, 37.5, 42.5)


def store_waits(database_url: str) -> None:
    events = []
    for n, wait in enumerate(ANSWERED):
        c, at = f"a{n}", T0 + dt.timedelta(seconds=n)
        events += [outcome_event(c, "contact_started", channel="webchat", at=at),
                   outcome_event(c, "handoff_requested", channel="webchat", skill="general", at=at),
                   outcome_event(c, "handoff_queued", channel="webchat", skill="general", at=at),
                   outcome_event(c, "handoff_claimed", channel="webchat", skill="general", wait_s=wait,
                                 at=at + dt.timedelta(seconds=wait))]
    for n, wait in enumerate(GAVE_UP):
        c, at = f"g{n}", T0 + dt.timedelta(seconds=10 + n)
        events += [outcome_event(c, "contact_started", channel="webchat", at=at),
                   outcome_event(c, "handoff_requested", channel="webchat", skill="general", at=at),
                   outcome_event(c, "handoff_queued", channel="webchat", skill="general", at=at),
                   outcome_event(c, "handoff_abandoned", channel="webchat", skill="general", wait_s=wait,
                                 reason="customer_cancelled", at=at + dt.timedelta(seconds=wait))]
    write_events(engine_for(database_url), events)


def labels() -> dict:
    return json.loads((PROJECT_ROOT / "content" / "ui" / "report.zh.json").read_text(encoding="utf-8"))


def test_waits_are_reported_as_median_p90_and_max_and_time_to_abandon(kefu_env, report_of):  # noqa: F811
    store_waits(kefu_env.database_url)
    code, figures, html = report_of("2026-12-03", "2026-12-03")
    assert code == 0
    assert float(figures[("overall", "", "wait_median_s")]) == pytest.approx((62.1 + 88.8) / 2, abs=0.01)
    assert float(figures[("overall", "", "wait_p90_s")]) == pytest.approx(114.35, abs=0.01)  # spreadsheet PERCENTILE.INC
    assert float(figures[("overall", "", "wait_max_s")]) == pytest.approx(122.9)
    assert float(figures[("overall", "", "abandon_median_s")]) == pytest.approx(37.5)
    assert "122.9" in html and "75.5" in html


def test_every_figure_is_defined_under_it_and_the_days_are_the_centres(kefu_env, report_of):  # noqa: F811
    store_waits(kefu_env.database_url)
    _, _, html = report_of("2026-12-03", "2026-12-03")
    words = labels()
    definitions = [key for key in words if key.startswith("def_")]
    assert len(definitions) >= 12
    for key in definitions:
        assert words[key].format(seconds=20) in html, key
    assert words["period_zone_note"].format(timezone="Asia/Shanghai") in html


def test_the_command_line_says_days_are_in_the_centres_zone(kefu_env, report_of, capsys):  # noqa: F811
    from bot.cli import main

    store_waits(kefu_env.database_url)
    code, _, _ = report_of("2026-12-02", "2026-12-02")  # the UTC date of the peak: nothing on that local day
    out = capsys.readouterr().out
    assert code == 0 and "0 contacts from 2026-12-02 to 2026-12-02 (Asia/Shanghai days)" in out
    assert "note: no contacts in these Asia/Shanghai days (from 2026-12-01 16:00 to 2026-12-02 16:00 UTC)" in out
    with pytest.raises(SystemExit):
        main(["report", "--help"])
    assert "centre's time zone" in capsys.readouterr().out


def test_a_period_in_the_future_says_so(kefu_env, report_of, capsys):  # noqa: F811
    later = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    code, _, html = report_of(later, later)
    assert code == 0
    assert "note: the period has not begun yet" in capsys.readouterr().out
    assert labels()["period_future"].format(timezone="Asia/Shanghai") in html


def test_the_wallboard_gives_the_median_and_longest_wait_too(kefu_env):
    from bot.analytics.live import today_figures

    store_waits(kefu_env.database_url)
    now = T0.replace(tzinfo=dt.timezone.utc) + dt.timedelta(minutes=10)
    today = today_figures(kefu_env.database_url, kefu_env.content_dir, now)
    assert today["wait_median_s"] == pytest.approx(75.45, abs=0.01) and today["wait_max_s"] == pytest.approx(122.9)
    assert today["abandon_median_s"] == pytest.approx(37.5)


def test_the_wallboard_leaves_a_contact_begun_before_midnight_to_the_day_before(kefu_env):
    """Found by a tester: the post-midnight half of a contact begun at 23:58 counted as a contact of the new day."""
    from bot.analytics.live import today_figures

    midnight = dt.datetime(2026, 12, 2, 16, 0)  # 2026-12-03 00:00 in the centre's zone
    start = midnight - dt.timedelta(seconds=90)
    write_events(engine_for(kefu_env.database_url), [
        outcome_event("x1", "contact_started", channel="webchat", at=start),
        outcome_event("x1", "handoff_requested", channel="webchat", skill="general", at=start),
        outcome_event("x1", "handoff_queued", channel="webchat", skill="general", at=start),
        outcome_event("x1", "handoff_claimed", channel="webchat", skill="general", wait_s=120,
                      at=start + dt.timedelta(seconds=120)),
        outcome_event("x2", "contact_started", channel="webchat", at=midnight + dt.timedelta(minutes=1)),
        outcome_event("x2", "intent_seen", channel="webchat", intent="query_bill",
                      at=midnight + dt.timedelta(minutes=1))])
    now = (midnight + dt.timedelta(minutes=3)).replace(tzinfo=dt.timezone.utc)
    today = today_figures(kefu_env.database_url, kefu_env.content_dir, now)
    assert today["day"] == "2026-12-03"
    assert today["contacts"] == 1 and today["answered"] == 0


def test_time_to_abandon_ends_when_the_customer_left_if_the_queue_says_so(kefu_env, report_of):  # noqa: F811
    """Found by a tester: a customer who closed the page 12.6 s into the queue was recorded as waiting
    133.2 s (the grace period). When the abandonment carries ``left_at`` (epoch seconds), the wait ends there."""
    at = T0 + dt.timedelta(minutes=20)
    left_at = at.replace(tzinfo=dt.timezone.utc).timestamp() + 12.6
    write_events(engine_for(kefu_env.database_url), [
        outcome_event("y1", "contact_started", channel="webchat", at=at),
        outcome_event("y1", "handoff_requested", channel="webchat", skill="general", at=at),
        outcome_event("y1", "handoff_queued", channel="webchat", skill="general", at=at),
        outcome_event("y1", "handoff_abandoned", channel="webchat", skill="general", wait_s=133.2,
                      reason="customer_gone", left_at=left_at, at=at + dt.timedelta(seconds=133.2))])
    _, figures, _ = report_of("2026-12-03", "2026-12-03")
    assert float(figures[("overall", "", "abandon_median_s")]) == pytest.approx(12.6, abs=0.01)
