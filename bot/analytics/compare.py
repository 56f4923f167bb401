"""``kefu compare``: did waits get shorter? Two recorded periods side by side, with how sure we can be.

A manager asked after the first peak could only run one report per period and compare by hand,
while ``kefu peak``'s "with Kefu" columns are a model, not a measurement (found by a tester in the
head of operations' role). This command takes two periods of the same record — e.g. this Monday's
peak hours against last Monday's, or the weeks before and after a change — optionally restricted to
the same local hours, and prints each figure before, after and after/before. For the mean answered
wait it adds a bootstrap 95 % interval of the difference (``scipy.stats.bootstrap``), and it says
when a period holds too few answered waits or contacts for a difference to mean anything.

Kefu's record starts when Kefu does: a period before Kefu is not in it. Compare with the ACD's own
export for that (README, "Did waits get shorter?").
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import logging
import sys
from dataclasses import dataclass

from bot.analytics.contacts import STARTS, Contact, split_contacts, waits_over_before
from bot.analytics.kpis import FCR_WINDOWS_H, Figures, figures, repeat_flags
from bot.analytics.report.period import Period, PeriodError, parse_hours, period

FEW_WAITS = 30  # fewer answered waits than this in a period: the wait's difference is noise
FEW_CONTACTS = 100  # fewer contacts than this: the rates' differences are noise
BOOTSTRAP_RESAMPLES = 2000


def register(commands) -> None:
    compare = commands.add_parser(
        "compare", help="two periods of the record side by side: waits, abandonment, containment (after/before)")
    compare.add_argument("--before", required=True,
                         help="first period: DAY or FIRST:LAST (YYYY-MM-DD, today, yesterday; the centre's days)")
    compare.add_argument("--after", required=True, help="second period, same form")
    compare.add_argument("--hours", default=None,
                         help="only contacts that started in these local hours, e.g. 19-21 (19:00 to 21:00)")
    compare.set_defaults(handler=cmd_compare)


@dataclass(frozen=True)
class Side:
    period: Period
    contacts: list[Contact]
    figures: Figures


@dataclass(frozen=True)
class Row:
    name: str
    before: float | None
    after: float | None
    unit: str  # "share", "s" or "count"


def parse_period(text: str, zone: str, now: dt.datetime | None = None) -> Period:
    first, _, last = text.partition(":")
    return period(first, last or first, zone, now)


def side(events_of, span: Period, hours: range | None, sl_seconds: float,
         waits_over: dt.datetime | None = None) -> Side:
    """The contacts that started in ``span`` (and ``hours``), with their figures; a return within
    the FCR windows after the period still counts against the contact. ``waits_over``: as ``split_contacts``."""
    lookahead = dt.timedelta(hours=max(FCR_WINDOWS_H))
    contacts = split_contacts(events_of(span.start_utc, span.end_utc + lookahead), waits_over)
    inside, later = dataclasses.replace(span, hours=hours).split(contacts)
    return Side(span, inside, figures(inside, sl_seconds=sl_seconds, repeats=repeat_flags(inside, later)))


def rows(before: Figures, after: Figures) -> list[Row]:
    return [
        Row("contacts", before.contacts, after.contacts, "count"),
        Row("contained by the assistant", before.containment, after.containment, "share"),
        Row("asked for a person", before.handoff_rate, after.handoff_rate, "share"),
        Row("answered by an agent", before.answered, after.answered, "count"),
        Row("mean answered wait (ASA)", before.asa_s, after.asa_s, "s"),
        Row("median answered wait", before.wait_median_s, after.wait_median_s, "s"),
        Row("90th percentile wait", before.wait_p90_s, after.wait_p90_s, "s"),
        Row("longest answered wait", before.wait_max_s, after.wait_max_s, "s"),
        Row("median wait before giving up", before.abandon_median_s, after.abandon_median_s, "s"),
        Row("service level", before.service_level, after.service_level, "share"),
        Row("abandoned in the queue", before.abandonment, after.abandonment, "share"),
        Row("took the self-help guide instead of waiting", before.selfhelp_sent, after.selfhelp_sent, "count"),
        Row("FCR 24 h", before.fcr_24h, after.fcr_24h, "share"),
        Row("mean handle time (AHT)", before.aht_s, after.aht_s, "s"),
    ]


def wait_difference(before: list[float], after: list[float]) -> tuple[float, float, float] | None:
    """Mean answered wait after minus before, with a bootstrap 95 % interval; None with < 2 waits a side."""
    if len(before) < 2 or len(after) < 2:
        return None
    import numpy as np
    from scipy.stats import bootstrap

    def difference(b, a, axis=-1):
        return np.mean(a, axis=axis) - np.mean(b, axis=axis)

    result = bootstrap((before, after), difference, n_resamples=BOOTSTRAP_RESAMPLES, vectorized=True,
                       random_state=np.random.default_rng(0), method="percentile")
    low, high = result.confidence_interval
    return float(np.mean(after) - np.mean(before)), float(low), float(high)


def answered_waits(contacts: list[Contact]) -> list[float]:
    return [c.answered_wait_s for c in contacts if c.answered]


def render(before: Side, after: Side, hours: range | None) -> str:
    scope = f", local hours {hours.start:02d}:00-{hours.stop:02d}:00" if hours is not None else ""
    lines = [f"before: {_span(before.period)}   after: {_span(after.period)}   "
             f"(days of the centre's time zone, {before.period.timezone}{scope})", "",
             f"{'figure':<28} {'before':>10} {'after':>10} {'after/before':>13}"]
    for row in rows(before.figures, after.figures):
        lines.append(f"{row.name:<28} {_value(row.before, row.unit):>10} {_value(row.after, row.unit):>10} "
                     f"{_ratio(row.before, row.after):>13}")
    lines.append("")
    waits_before, waits_after = answered_waits(before.contacts), answered_waits(after.contacts)
    difference = wait_difference(waits_before, waits_after)
    if difference is not None:
        change, low, high = difference
        verdict = ("shorter" if high < 0 else "longer" if low > 0 else "no clear change: the interval holds 0")
        lines.append(f"mean answered wait, after - before: {change:+.1f} s (95% interval {low:+.1f} to {high:+.1f} s, "
                     f"bootstrap): {verdict}")
    for name, count, least, what, which in (
            ("before", len(waits_before), FEW_WAITS, "answered waits", "the waits' differences"),
            ("after", len(waits_after), FEW_WAITS, "answered waits", "the waits' differences"),
            ("before", before.figures.contacts, FEW_CONTACTS, "contacts", "the shares' differences"),
            ("after", after.figures.contacts, FEW_CONTACTS, "contacts", "the shares' differences")):
        if count < least:
            lines.append(f"caution: {name} holds {count} {what} (fewer than {least}): read {which} as noise")
    if _days(before.period) != _days(after.period):
        lines.append(f"caution: the periods are {_days(before.period)} and {_days(after.period)} day(s) long: "
                     "compare shares and waits, not counts")
    return "\n".join(lines)


def cmd_compare(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from bot.analytics.config import KpiConfigError, load_kpi_config
    from bot.db.errors import unusable_database
    from bot.db.repository import DatabaseError, Repository
    from bot.outcomes.store import read_whole_contacts
    from bot.settings import get_settings

    settings = get_settings()
    try:
        config = load_kpi_config(settings.content_dir)
        hours = parse_hours(args.hours)
        spans = parse_period(args.before, config.timezone), parse_period(args.after, config.timezone)
        engine = Repository(settings.database_url).engine

        def events_of(start, end):
            return read_whole_contacts(engine, start, end, STARTS)

        waits_over = waits_over_before(dt.datetime.utcnow(), config.max_wait_s)
        before, after = (side(events_of, span, hours, config.sl_seconds, waits_over) for span in spans)
    except (PeriodError, KpiConfigError) as exc:
        print(f"kefu compare: {exc}", file=sys.stderr)
        return 2
    except (SQLAlchemyError, DatabaseError) as exc:
        logging.getLogger(__name__).error("cli.database_unavailable command=compare", exc_info=True)
        print(unusable_database(exc), file=sys.stderr)  # the driver's reason, never the URL (its password)
        return 1
    print(render(before, after, hours))
    return 0


def _days(span: Period) -> int:
    return (span.last - span.first).days + 1


def _span(span: Period) -> str:
    return str(span.first) if span.first == span.last else f"{span.first} to {span.last}"


def _value(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "share":
        return f"{value:.0%}"
    if unit == "s":
        return f"{value:.1f} s"
    return str(int(value))


def _ratio(before: float | None, after: float | None) -> str:
    if before is None or after is None or before == 0:
        return "-"
    return f"{after / before:.2f}x"
