"""Customer import benchmark: how long ``kefu customer import`` holds the database's write lock.

On SQLite (the embedded default) the import's one transaction holds the database's only write lock
from its first write to its commit, and every ticket, message and outcome of the running service
waits for it (15 s, then retries for 8 s, then the customer gets the database apology). The baseline
is the load as it was before it skipped unchanged rows and batched its statements (``load.py`` at
``BASELINE``, read from git), run in the same process on the same extracts.

Three imports per size, each into a fresh SQLite file: the first load, the same extract again (a
nightly refresh of an unchanged CRM), and a refresh where 2 % of customers' balances changed and a
new month's bills and usage arrived. "write lock" is the time from the load's first write (SQLite
takes its lock there) to the commit; "whole" includes reading and checking the files.

Usage: ``python bench/customer_import.py [--sizes 10000 50000]``.
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import importlib.util
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BASELINE = "554a63d"  # bot/customers/load.py before this change


def extract(folder: Path, name: str, customers: int, months: list[str], changed_every: int = 0) -> str:
    """A CRM extract: one plan, ``customers`` customers, a bill and a usage row per customer and month;
    every ``changed_every``-th customer's balance differs from the first extract's."""
    path = folder / name
    with path.open("w", encoding="utf-8") as out:
        out.write(json.dumps({"type": "plan", "code": "BB300", "name": "300M宽带", "category": "broadband",
                              "monthly_fee_cents": 9900}, ensure_ascii=False) + "\n")
        for n in range(customers):
            balance = 1 if changed_every and n % changed_every == 0 else -5000
            out.write(json.dumps({"type": "customer", "external_id": f"CRM-{n}", "phone": f"139{n:08d}",
                                  "account_number": f"88{n:08d}", "name": "王小丽", "address": "光明大道1号",
                                  "plan_code": "BB300", "balance_cents": balance}, ensure_ascii=False) + "\n")
            for month in months:
                out.write(json.dumps({"type": "bill", "customer": f"CRM-{n}", "period": month, "amount_cents": 9900,
                                      "status": "unpaid", "due_date": f"{month}-15"}) + "\n")
                out.write(json.dumps({"type": "usage", "customer": f"CRM-{n}", "period": month,
                                      "data_used_mb": 40000}) + "\n")
    return str(path)


def baseline_load():
    source = subprocess.run(["git", "show", f"{BASELINE}:bot/customers/load.py"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    spec = importlib.util.spec_from_loader("baseline_customer_load", loader=None)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up
    exec(compile(source, "baseline_customer_load", "exec"), module.__dict__)
    return module.load


def timed_import(database: Path, files: list[str], load) -> tuple[float, float]:
    """(whole import, write lock) in seconds, with ``load`` as the import's loader."""
    import sqlalchemy as sa

    from bot import settings as settings_module
    from bot.cli import main
    from bot.customers import load as load_module
    from bot.db import repository

    os.environ["KEFU_DATABASE_URL"] = f"sqlite:///{database}"
    settings_module.get_settings.cache_clear()
    repository.engine_for.cache_clear()
    held = {}

    def loading(conn, *args):
        held["loading"] = True
        loaded = load(conn, *args)
        if not hasattr(loaded, "unchanged"):  # the baseline's counts, for today's summary lines
            loaded.unchanged = collections.Counter()
        return loaded

    def committed(_conn):
        held.setdefault("first", time.perf_counter())  # wrote nothing: held no write lock
        held["commit"] = time.perf_counter()

    def executing(_conn, _cursor, statement, *_args):
        if held.get("loading") and statement.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE"):
            held.setdefault("first", time.perf_counter())  # SQLite takes its write lock here

    engine = repository.engine_for(os.environ["KEFU_DATABASE_URL"])
    sa.event.listen(engine, "commit", committed)
    sa.event.listen(engine, "before_cursor_execute", executing)
    original, load_module.load = load_module.load, loading
    try:
        started = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["customer", "import", *files]) == 0
        whole = time.perf_counter() - started
    finally:
        load_module.load = original
        sa.event.remove(engine, "commit", committed)
        sa.event.remove(engine, "before_cursor_execute", executing)
    return whole, held["commit"] - held["first"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10000, 50000])
    args = parser.parse_args()
    os.environ.setdefault("KEFU_DEMO_DATA", "off")
    from bot.customers.load import load as current

    loaders = {"before": baseline_load(), "after": current}
    print("| customers | import | whole before (s) | whole after (s) | write lock before (s) | write lock after (s) | lock ratio |")
    print("|---|---|---|---|---|---|---|")
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as folder:
            folder = Path(folder)
            first = extract(folder, "first.jsonl", size, ["2026-10", "2026-11"])
            refresh = extract(folder, "refresh.jsonl", size, ["2026-10", "2026-11", "2026-12"], changed_every=50)
            results = {}
            for label, load in loaders.items():
                database = folder / f"{label}.sqlite3"
                results[label] = [timed_import(database, [first], load), timed_import(database, [first], load),
                                  timed_import(database, [refresh], load)]
            for n, name in enumerate(("first load", "same extract again", "2 % changed + a new month")):
                (whole_b, lock_b), (whole_a, lock_a) = results["before"][n], results["after"][n]
                print(f"| {size} | {name} | {whole_b:.1f} | {whole_a:.1f} | {lock_b:.2f} | {lock_a:.2f} | "
                      f"{lock_a / lock_b:.2f} |")


if __name__ == "__main__":
    main()
