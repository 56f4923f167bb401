"""Contact worker benchmark: how fast N due follow-up calls are placed by 1, 2 and 4 workers racing
on one database, and whether any contact is placed twice (it must not be).

Each worker is the real ``ContactWorker`` placing calls through a loopback telephony REST API
(Twilio's Calls.json); the database is a fresh SQLite file (or ``--database-url``). The first row (one
worker) is the baseline; the other rows show their time as a ratio to it.
Usage: ``python bench/contacts.py [--contacts 300] [--database-url URL]``.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


async def drain(database_url: str, contacts: int, workers: int) -> tuple[float, int, int]:
    from bot.contacts.dialer import Dialer
    from bot.contacts.rules import load_rules
    from bot.contacts.schedule import Schedule
    from bot.contacts.worker import ContactWorker
    from bot.db.repository import Repository
    from bot.db.seed import seed_demo
    from bot.ledger.rules import load_rules as load_ledger_rules
    from tests.contacts.telephony_loopback import TelephonyLoopback

    repository = Repository(database_url)
    seed_demo(repository, ROOT / "content" / "demo" / "seed.yml")
    now = (dt.datetime.utcnow() + dt.timedelta(days=1)).replace(hour=2, minute=0)  # 10:00 in Shanghai
    schedule = Schedule(repository)
    for n in range(contacts):
        schedule.add(dedupe_key=f"bench:{workers}:{n}", purpose="followup", rule="repair_followup",
                     due_at=now - dt.timedelta(minutes=1), channels=["phone"], phone=f"13{workers}{n:08d}")
    telephony = await TelephonyLoopback().start()
    dialer = Dialer(telephony.url, telephony.account_sid, telephony.auth_token, "+8657188880000",
                    "ws://127.0.0.1:9/webhooks/ivr/media")
    rules = load_rules(ROOT / "content" / "contacts.yml")
    ledger_rules = load_ledger_rules(ROOT / "content" / "ledger.yml")
    team = [ContactWorker(repository, rules=lambda: rules, ledger_rules=lambda: ledger_rules, dialer=dialer,
                          clock=lambda: now) for _ in range(workers)]
    started = time.perf_counter()
    try:
        while schedule.due(now, limit=1):
            await asyncio.gather(*(w.run_pass() for w in team))
        elapsed = time.perf_counter() - started
    finally:
        await telephony.stop()
    placed = [c.to for c in telephony.calls if c.parameters.get("flow") == "followup"]
    return elapsed, len(placed), len(placed) - len(set(placed))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=300)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    print(f"{'workers':>7} {'contacts':>8} {'placed':>6} {'twice':>5} {'seconds':>8} {'per s':>7} {'time vs 1':>9}")
    baseline = None
    for workers in (1, 2, 4):
        with tempfile.TemporaryDirectory() as folder:
            url = args.database_url or f"sqlite:///{folder}/bench.db"
            elapsed, placed, twice = asyncio.run(drain(url, args.contacts, workers))
        baseline = baseline or elapsed
        print(f"{workers:>7} {args.contacts:>8} {placed:>6} {twice:>5} {elapsed:>8.2f} {placed / elapsed:>7.1f} "
              f"{elapsed / baseline:>8.2f}x")


if __name__ == "__main__":
    main()
