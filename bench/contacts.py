"""Contact worker benchmark: how fast N due follow-up calls are placed by 1, 2 and 4 workers racing
on one database, and whether any contact is placed twice (it must not be).

Each worker is the real ``ContactWorker`` placing calls through a loopback telephony REST API
(Twilio's Calls.json); the database is a fresh SQLite file (or ``--database-url``). The first row (one
worker) is the baseline; the other rows show their time as a ratio to it.

The second table times one planner pass over a database holding ``--tickets`` tickets of the last
60 days: reading every ticket on each pass (what the planner did before it kept a mark — the
baseline, forced here by deleting the mark) against the incremental pass, with nothing changed and
with 10 tickets changed since the last pass.
Usage: ``python bench/contacts.py [--contacts 300] [--tickets 5000] [--database-url URL]``.
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


def seed_tickets(repository, count: int, now: dt.datetime) -> None:
    """``count`` resolved fault tickets, spread over the look-back and over ``count * 2/3`` customers, in bulk."""
    from bot.db.schema import customers, ticket_history, tickets

    with repository.engine.begin() as conn:  # about as many customers as tickets: most report one problem
        conn.execute(customers.insert(), [{"phone": f"135{n:08d}", "account_number": f"8{n:09d}", "name": "bench",
                                           "vip_tier": 0, "address": "", "balance_cents": 0}
                                          for n in range(count * 2 // 3)])
        customer_ids = [r[0] for r in conn.execute(customers.select().with_only_columns(customers.c.id))]
        start = conn.execute(tickets.select().with_only_columns(tickets.c.id)).all()
        base = len(start) + 1
        rows, history = [], []
        for n in range(count):
            at = now - dt.timedelta(minutes=int(59 * 24 * 60 * n / count))
            ticket_id = f"TB{base + n:06d}"
            rows.append({"ticket_id": ticket_id, "customer_id": customer_ids[n % len(customer_ids)], "kind": "fault",
                         "status": "resolved", "summary": "bench", "details": {"fault_type": f"f{n % 7}"},
                         "channel": "webchat", "created_at": at, "updated_at": at})
            history += [{"ticket_id": ticket_id, "from_status": None, "to_status": "open", "at": at},
                        {"ticket_id": ticket_id, "from_status": "open", "to_status": "resolved", "at": at}]
        conn.execute(tickets.insert(), rows)
        conn.execute(ticket_history.insert(), history)


def planner_pass_seconds(database_url: str, count: int, repeats: int = 5) -> dict[str, float]:
    import statistics

    from bot.contacts.planner import Planner
    from bot.contacts.rules import load_rules
    from bot.db.repository import Repository
    from bot.db.schema import contact_planner_marks
    from bot.db.seed import seed_demo
    from bot.ledger.rules import load_rules as load_ledger_rules

    repository = Repository(database_url)
    seed_demo(repository, ROOT / "content" / "demo" / "seed.yml")
    now = dt.datetime.utcnow()
    seed_tickets(repository, count, now)
    planner = Planner(repository, load_rules(ROOT / "content" / "contacts.yml"),
                      load_ledger_rules(ROOT / "content" / "ledger.yml"))
    planner.plan(now)  # the first pass schedules everything

    def timed(before) -> float:
        times = []
        for _ in range(repeats):
            before()
            started = time.perf_counter()
            planner.plan(now)
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    def forget_mark() -> None:
        with repository.engine.begin() as conn:
            conn.execute(contact_planner_marks.delete())

    changed = iter(range(10 ** 6))

    def change_ten() -> None:
        for _ in range(10):
            n = next(changed)
            ticket_id = repository.create_ticket(kind="fault", customer_id=1 + n % 4, summary="bench",
                                                 details={"fault_type": "tv"}, channel="webchat")
            repository.move_ticket(ticket_id, "resolved", note="bench")

    return {"every ticket, nothing changed (before)": timed(forget_mark),
            "incremental, nothing changed": timed(lambda: None),
            "incremental, 10 tickets changed": timed(change_ten)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=300)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--tickets", type=int, default=5000, help="tickets in the look-back for the planner table")
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
    print(f"\nplanner pass, {args.tickets} tickets in the look-back (median of 5)")
    with tempfile.TemporaryDirectory() as folder:
        timings = planner_pass_seconds(args.database_url or f"sqlite:///{folder}/planner.db", args.tickets)
    before = next(iter(timings.values()))
    print(f"{'pass':<40} {'ms':>8} {'vs before':>9}")
    for name, seconds in timings.items():
        print(f"{name:<40} {seconds * 1000:>8.1f} {seconds / before:>8.3f}x")


if __name__ == "__main__":
    main()
