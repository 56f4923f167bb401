"""Screen-pop benchmark: how long the customer at a glance takes to assemble (SQLite).

Baseline: a demo customer with the seeded history only. Against it, in the same run, the same
customer after N tickets and 10 N outcome events of theirs (and as many of other customers).
Prints median and max of 10 assemblies each, and the ratio to the baseline.
Usage: ``python bench/glance.py [--tickets 100,500]``.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def timed(call, runs: int = 10) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times), max(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", default="100,500")
    args = parser.parse_args()
    os.environ["KEFU_DATA_DIR"] = tempfile.mkdtemp(prefix="kefu-glance-bench-")
    os.environ.pop("KEFU_DATABASE_URL", None)
    from bot.db.repository import Repository
    from bot.db.seed import seed_demo
    from bot.handoff.glance import customer_glance
    from bot.ledger.rules import load_rules
    from bot.outcomes.events import outcome_event
    from bot.outcomes.store import write_events
    from bot.settings import get_settings

    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    repo = Repository(settings.database_url)
    seed_demo(repo, settings.content_dir / "demo" / "seed.yml")
    rules = load_rules(settings.content_dir / "ledger.yml")
    customer = repo.find_customer(phone="13800000002")
    packet = {"conversation_id": "now", "phone": customer.phone, "customer": {"id": customer.id}}
    base_median, base_max = timed(lambda: customer_glance(repo, rules, packet))
    print("| history of the customer | median ms | max ms | median vs baseline |")
    print("|---|---|---|---|")
    print(f"| seeded only (baseline) | {base_median * 1000:.1f} | {base_max * 1000:.1f} | 1.0× |")
    made = 0
    for target in (int(n) for n in args.tickets.split(",")):
        for n in range(made, target):
            for owner in (customer.id, 1):  # theirs and another customer's
                repo.create_ticket(kind="fault", customer_id=owner, summary="bench", conversation_id=f"c{owner}-{n}",
                                   details={"fault_type": "fault_tv"})
            write_events(repo.engine, [outcome_event(f"e{owner}-{n}-{k}", "contact_started", channel="webchat",
                                                     customer=f"customer:{owner}")
                                       for owner in (customer.id, 1) for k in range(10)])
        made = target
        median, worst = timed(lambda: customer_glance(repo, rules, packet))
        print(f"| {target} tickets, {10 * target} events | {median * 1000:.1f} | {worst * 1000:.1f} | "
              f"{median / base_median:.1f}× |")


if __name__ == "__main__":
    main()
