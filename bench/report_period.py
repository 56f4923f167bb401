"""The report's ledger read for a week two months ago: before, every ticket filed since the week's month
began; after, only the tickets of the months the week touches (``ledger_window``). N tickets on SQLite,
filed 250 a day going back from now (``tests/ledger/seeding.py``: each with its whole history). Prints
the median of three runs of each, alternated.
Usage: ``python bench/report_period.py [--tickets 20000]``.
"""
from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    from bot.analytics.report.data import ledger_window
    from bot.analytics.report.period import period
    from bot.db.repository import Repository
    from bot.ledger.ledger import Ledger
    from bot.ledger.rules import load_rules
    from tests.ledger.seeding import add_customers, old_finished_tickets

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=20000)
    args = parser.parse_args()
    repository = Repository(f"sqlite:///{tempfile.mkdtemp(prefix='kefu-report-period-')}/kefu.sqlite3")
    repository.create_schema()
    now = dt.datetime.utcnow()
    old_finished_tickets(repository, args.tickets, add_customers(repository, 2000), now,
                         every=dt.timedelta(days=1) / 250)
    ledger = Ledger(repository, load_rules(ROOT / "content" / "ledger.yml"))
    first = (now - dt.timedelta(days=60)).date()
    week = period(first.isoformat(), (first + dt.timedelta(days=6)).isoformat(), "Asia/Shanghai", now)
    window = ledger_window(week)
    reads = {"before: since the month began": {"since": window["since"]}, "after: the week's months": window}
    seconds: dict[str, list[float]] = {label: [] for label in reads}
    counts: dict[str, int] = {}
    for _ in range(3):
        for label, bounds in reads.items():
            began = time.perf_counter()
            counts[label] = len(ledger.items(now=now, **bounds))
            seconds[label].append(time.perf_counter() - began)
    print(f"{args.tickets} tickets; the week {week.first}..{week.last}")
    print(f"{'read':<32} {'items':>7} {'seconds':>8}")
    for label in reads:
        print(f"{label:<32} {counts[label]:>7} {statistics.median(seconds[label]):>8.2f}")
    before, after = (statistics.median(seconds[label]) for label in reads)
    print(f"after / before: {after / before:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
