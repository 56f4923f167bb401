"""Ledger at scale: a desk page load and one ``item()`` (a click reads three) with N tickets on SQLite.

Seeds a temporary SQLite database with N finished tickets of 2,000 customers, filed at 1,000 a day going
back from 8 days ago (with their histories and follow-up contacts), and 300 unfinished tickets of today.
"after" is this checkout; "before" is the ledger module of ``--before`` (git show, imported under another
name) on the same database with this version's indexes dropped, as it ran before them. A page load is
what ``/agent/api/ledger`` reads: the unfinished items and their follow-up contacts; "finished shown":
the items with 包含近7天已回访 ticked (before: every ticket). Prints the median of ``--runs`` after a
first, untimed one (before: one run each, it is slow).
Usage: ``python bench/ledger_scale.py [--tickets 20000,100000] [--before 554a63d]``.
"""
from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NEW_INDEXES = {"ix_tickets_status": "tickets", "ix_tickets_created_at": "tickets",
               "ix_tickets_customer_created": "tickets", "ix_ticket_history_ticket_id": "ticket_history",
               "ix_contacts_ticket_id": "contacts"}


def old_ledger_module(revision: str):
    """bot/ledger/ledger.py as it was at ``revision``, as a module of its own."""
    source = subprocess.run(["git", "show", f"{revision}:bot/ledger/ledger.py"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp(prefix="kefu-ledger-before-")) / "ledger_before.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("ledger_before", path)
    module = sys.modules["ledger_before"] = importlib.util.module_from_spec(spec)  # dataclasses look it up
    spec.loader.exec_module(module)
    return module


def timed(call, runs: int) -> tuple[float, object]:
    times, result = [], call() if runs > 1 else None  # a first call, not timed, when there are several
    for _ in range(runs):
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def seed(url: str, count: int):
    from bot.db.repository import Repository
    from bot.db.seed import seed_demo
    from tests.ledger.seeding import add_customers, old_finished_tickets

    repository = Repository(url)
    seed_demo(repository, ROOT / "content" / "demo" / "seed.yml")
    customers = add_customers(repository, 2000)
    old_finished_tickets(repository, count, customers, dt.datetime.utcnow() - dt.timedelta(days=8),
                         every=dt.timedelta(days=1) / 1000)
    current = [repository.create_ticket(kind="fault", customer_id=customers[n * 7 % len(customers)], summary="断网",
                                        channel="webchat", details={"fault_type": "fault_broadband"})
               for n in range(300)]
    for ticket_id in current[::3]:
        repository.move_ticket(ticket_id, "assigned")
    return repository, current


def page(ledger, schedule, items_call):
    items = [i for i in items_call() if i.next_step is not None]
    schedule.followups_of([i.ticket_id for i in items])
    return items


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", default="20000,100000")
    parser.add_argument("--before", default="554a63d", help="the revision whose ledger is 'before'")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("KEFU_DATA_DIR", tempfile.mkdtemp(prefix="kefu-bench-"))

    import sqlalchemy as sa

    from bot.contacts.schedule import Schedule
    from bot.ledger.ledger import Ledger
    from bot.ledger.rules import load_rules

    before = old_ledger_module(args.before)
    rules = load_rules(ROOT / "content" / "ledger.yml")
    print(f"{'tickets':>8} {'what':<22} {'before s':>9} {'after s':>9} {'ratio':>8}  {'items':>6}")
    for count in [int(n) for n in args.tickets.split(",")]:
        url = f"sqlite:///{tempfile.mkdtemp(prefix='kefu-ledger-bench-')}/kefu.sqlite3"
        repository, current = seed(url, count)
        schedule, new = Schedule(repository), Ledger(repository, rules)
        probe = current[len(current) // 2]
        after = {
            "page load": timed(lambda: page(new, schedule, new.current_items), args.runs),
            "page, finished shown": timed(lambda: new.current_items(finished=True), args.runs),
            "item() (a click: 3)": timed(lambda: new.item(probe), args.runs),
        }
        with repository.engine.begin() as conn:  # the database as the earlier Kefu had it
            for index in NEW_INDEXES:
                conn.execute(sa.text(f"DROP INDEX {index}"))
        old = before.Ledger(repository, rules)
        was = {
            "page load": timed(lambda: page(old, schedule, old.items), 1),
            "page, finished shown": timed(lambda: old.items(), 1),
            "item() (a click: 3)": timed(lambda: old.item(probe), 1),
        }
        for what, (seconds, result) in after.items():
            then, old_result = was[what]
            shown = len(result) if isinstance(result, list) else 1
            print(f"{count:>8} {what:<22} {then:>9.3f} {seconds:>9.4f} {then / seconds:>7.0f}x  {shown:>6}")
        same = [i for i in old_result_items(was)] == [i for i in old_result_items(after)]
        print(f"{count:>8} same unfinished items before and after: {same}")
    return 0


def old_result_items(measured: dict) -> list[tuple]:
    """The unfinished items of a page load, compared by what the page shows of them."""
    return [(i.ticket_id, i.step, i.next_step, i.due_at, i.overdue, i.repeat_of, i.owner)
            for i in measured["page load"][1]]


if __name__ == "__main__":
    sys.exit(main())
