"""``kefu report --from DATE --to DATE [--hours H-H]``: writes the HTML page and the CSV, prints where.

``--hours`` (as ``kefu compare --hours``, one parser: bot/analytics/report/period.py) reports only the
contacts that started in those local hours of each day, e.g. the evening peak; the header says so
(found by the head-of-operations tester: the peak hour could not be reported on its own)."""
from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
from pathlib import Path


def register(commands) -> None:
    report = commands.add_parser("report", help="supervisors' report: HTML with charts and a CSV of every figure")
    report.add_argument("--from", dest="first", required=True,
                        help="first day: YYYY-MM-DD, today or yesterday, a day in the centre's time zone "
                             "(content/kpi.yml `timezone`, e.g. Asia/Shanghai), not a UTC date")
    report.add_argument("--to", dest="last", required=True, help="last day (included), in the centre's time zone")
    report.add_argument("--hours", default=None,
                        help="only contacts that started in these local hours of each day, e.g. 19-21 "
                             "(19:00 to 21:00), as kefu compare --hours")
    report.add_argument("--out", type=Path, default=None, help="folder for the files (default var/reports)")
    report.set_defaults(handler=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from bot.analytics.config import KpiConfigError, ReportLabelsError, load_kpi_config, load_labels
    from bot.analytics.report.csv_export import report_csv
    from bot.analytics.report.data import build_report
    from bot.analytics.report.html import render_html
    from bot.analytics.report.period import PeriodError, period
    from bot.db.errors import unusable_database
    from bot.db.repository import DatabaseError, Repository
    from bot.ledger.rules import LedgerRulesError, load_rules
    from bot.security.private_files import write_private_file
    from bot.settings import get_settings

    settings = get_settings()
    try:
        config = load_kpi_config(settings.content_dir)
        labels = load_labels(settings.content_dir)
        ledger_rules = load_rules(settings.content_dir / "ledger.yml")
        span = period(args.first, args.last, config.timezone, hours=args.hours)
        repository = Repository(settings.database_url)
        repository.create_schema()  # an older database gains the ledger's owners table
        data = build_report(repository, span, config, ledger_rules)
    except (PeriodError, KpiConfigError, ReportLabelsError, LedgerRulesError) as exc:
        print(f"kefu report: {exc}", file=sys.stderr)
        return 2
    except (SQLAlchemyError, DatabaseError) as exc:
        logging.getLogger(__name__).error("cli.database_unavailable command=report", exc_info=True)
        print(unusable_database(exc), file=sys.stderr)  # the driver's reason, never the URL (its password)
        return 1
    out = args.out or settings.data_dir / "reports"
    hours = f"-{span.hours.start:02d}-{span.hours.stop:02d}h" if span.hours is not None else ""
    stem = f"kefu-report-{span.first}-{span.last}{hours}"
    html_path, csv_path = out / f"{stem}.html", out / f"{stem}.csv"
    # Owner-only like the rest of the data folder: customers (masked numbers) and agents' handle
    # times and CSAT (found by a data-protection audit: 0644 files in a 0755 folder).
    html = render_html(data, labels, dt.datetime.now(dt.timezone.utc), report_names(settings))
    try:
        write_private_file(html_path, html.encode("utf-8"))
        write_private_file(csv_path, report_csv(data).encode("utf-8"))
    except OSError as exc:  # --out under a file, a read-only or full disk
        print(f"kefu report: cannot write the report in {out}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    f = data.overall
    scope = f", {span.hours_label} of each day" if span.hours is not None else ""
    print(f"{f.contacts} contacts from {span.first} to {span.last} ({span.timezone} days{scope}): "
          f"containment {_share(f.containment)}, "
          f"FCR 24 h {_share(f.fcr_24h)}, ASA {_secs(f.asa_s)} (median {_secs(f.wait_median_s)}, p90 "
          f"{_secs(f.wait_p90_s)}, max {_secs(f.wait_max_s)}; queue time from asking for a person), "
          f"abandonment {_share(f.abandonment)}")
    print(f"report: {html_path}\ncsv:    {csv_path}")
    if span.start_utc > dt.datetime.now(dt.timezone.utc).replace(tzinfo=None):
        print(f"note: the period has not begun yet in {span.timezone}: nothing to report")
    elif f.contacts == 0:
        print(f"note: no contacts in these {span.timezone} days{scope} (from {span.start_utc:%Y-%m-%d %H:%M} to "
              f"{span.end_utc:%Y-%m-%d %H:%M} UTC)")
    return 0


def report_names(settings) -> dict:
    """The names the desk uses for skill groups and self-help entries; codes where a file cannot be read."""
    import yaml

    from bot.handoff.rules import load_rules as load_handoff_rules
    from bot.labels import parse_labels
    from bot.selfhelp import CatalogueError, load_catalogue

    names: dict = {}
    try:
        names["skill"] = dict(load_handoff_rules(settings.content_dir / "handoff.yml").skills)
    except (OSError, ValueError):
        pass
    try:
        names["selfhelp"] = {i: e.title for i, e in load_catalogue(settings.selfhelp_catalogue).entries.items()}
    except (OSError, CatalogueError):
        pass
    try:
        words = parse_labels(settings.content_dir / "labels.yml")
        names["ticket_kind"] = dict(words.get("ticket_kind") or {})
        names["intent"] = dict(words.get("intent_label") or {})
    except (OSError, ValueError, yaml.YAMLError):
        pass
    return names


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"
