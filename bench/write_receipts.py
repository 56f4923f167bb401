"""What a write's receipt costs (bot/db/repository.py ``_retry_transient``): ``create_ticket`` and
``add_outbound`` timed with the receipt written, as Kefu runs, and with the receipt's insert skipped
(the write alone, as before receipts), alternated on one SQLite database (and PostgreSQL with
``--postgres URL``). Prints the median time per write of each.
Usage: ``python bench/write_receipts.py [--writes 300] [--postgres postgresql://…]``.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def timed_writes(repository, writes: int) -> dict[str, float]:
    times: dict[str, list[float]] = {"create_ticket": [], "add_outbound": []}
    for n in range(writes):
        began = time.perf_counter()
        repository.create_ticket(kind="fault", customer_id=None, summary=f"断网 {n}", channel="webchat")
        times["create_ticket"].append(time.perf_counter() - began)
        began = time.perf_counter()
        repository.add_outbound(channel="sms", recipient="13800000001", kind="notice", payload={"text": "已受理"})
        times["add_outbound"].append(time.perf_counter() - began)
    return {name: statistics.median(values) * 1000 for name, values in times.items()}


def main() -> int:
    import bot.db.repository as repository_module
    from bot.db.repository import Repository

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=300)
    parser.add_argument("--postgres", help="also on this PostgreSQL database (it gains Kefu's tables)")
    args = parser.parse_args()
    urls = [f"sqlite:///{tempfile.mkdtemp(prefix='kefu-receipts-')}/kefu.sqlite3"] + ([args.postgres] if args.postgres else [])
    with_receipt = repository_module._write_receipt
    print(f"{'database':<11} {'write':<14} {'without (ms)':>13} {'with (ms)':>10} {'with / without':>15}")
    for url in urls:
        repository = Repository(url)
        repository.create_schema()
        results: dict[str, list[dict[str, float]]] = {"without": [], "with": []}
        for _ in range(3):  # alternated, so a slower moment of the machine falls on both
            repository_module._write_receipt = lambda conn, receipt: None
            results["without"].append(timed_writes(repository, args.writes // 3))
            repository_module._write_receipt = with_receipt
            results["with"].append(timed_writes(repository, args.writes // 3))
        for write in ("create_ticket", "add_outbound"):
            without = statistics.median(r[write] for r in results["without"])
            with_ = statistics.median(r[write] for r in results["with"])
            print(f"{url.split(':')[0]:<11} {write:<14} {without:>13.2f} {with_:>10.2f} {with_ / without:>15.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
