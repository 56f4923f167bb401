"""Outbox pass benchmark: what one pass of the customer-message worker costs while many texts wait for a
later retry (a gateway's bad hour), and whether a new text still goes out in that pass.

The pass reads every pending row that is due, a page at a time, and leaves the rows waiting for a later
retry in the database (``due_by`` in ``bot/outbound/outbox_rows.py``). The baseline is the pass before
retries: the first 100 pending rows only, read here with the same kind of query — cheap, but it never
reached a new text behind the backlog (the last column). A fresh SQLite file, or ``--database-url``; a
loopback SMS gateway answers the new text, whose send is part of "pass now".

Usage: ``python bench/outbox_pass.py [--backlogs 1000 10000 50000] [--rounds 3] [--database-url URL]``.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def fill(repository, backlog: int, now: dt.datetime) -> None:
    """``backlog`` texts waiting for a retry half an hour away, as after a gateway's bad minute."""
    from bot.db.schema import outbox

    waiting = {"text": "您的报修单已受理。", "attempts": 3, "queued_at": now.isoformat(),
               "retry_at": (now + dt.timedelta(minutes=30)).isoformat()}
    with repository.engine.begin() as conn:
        conn.execute(outbox.delete())
        for start in range(0, backlog, 5000):
            conn.execute(outbox.insert(), [{"channel": "sms", "recipient": "13800000002", "kind": "ticket_notice",
                                            "payload": waiting, "status": "pending"}
                                           for _ in range(min(5000, backlog - start))])


async def one_pass(repository, base_url: str, now: dt.datetime) -> tuple[float, bool]:
    from bot.outbound.sms import SmsGateway
    from bot.outbound.worker import deliver_pending

    new_id = repository.add_outbound(channel="sms", recipient="13800000001", kind="verification_code",
                                     payload={"text": "验证码 123456"})
    started = time.perf_counter()
    await deliver_pending(repository, {"sms": SmsGateway(base_url, "k", "Kefu")}, now=now)
    took = time.perf_counter() - started
    sent = repository.outbound(status="sent", channel="sms", limit=10)
    return took, any(row["id"] == new_id for row in sent)


def first_hundred(repository) -> float:
    """The old pass's read: the first 100 pending rows (none of them due, so it sent nothing)."""
    import sqlalchemy as sa

    from bot.db.schema import outbox

    started = time.perf_counter()
    with repository.engine.connect() as conn:
        rows = conn.execute(sa.select(outbox).where(outbox.c.status == "pending").order_by(outbox.c.id)
                            .limit(100)).mappings().all()
    assert len(rows) == 100
    return time.perf_counter() - started


async def main(backlogs: list[int], rounds: int, database_url: str | None) -> None:
    from bot.db.repository import Repository
    from tests.sms_loopback import sms_loopback

    tmp = tempfile.TemporaryDirectory()
    url = database_url or f"sqlite:///{Path(tmp.name) / 'bench.sqlite3'}"
    repository = Repository(url)
    repository.create_schema()
    print(f"database: {repository.engine.dialect.name}; median of {rounds} rounds per row")
    print(f"{'texts waiting':>13} | {'old read (first 100)':>20} | {'pass now':>9} | {'ratio':>6} | new text sent")
    async with sms_loopback() as (_, base_url):
        for backlog in backlogs:
            old, new, reached = [], [], []
            for _ in range(rounds):
                now = dt.datetime.utcnow()
                await asyncio.to_thread(fill, repository, backlog, now)
                old.append(first_hundred(repository))
                took, sent = await one_pass(repository, base_url, now)
                new.append(took)
                reached.append(sent)
            o, n = statistics.median(old), statistics.median(new)
            print(f"{backlog:>13} | {o * 1000:>17.1f} ms | {n * 1000:>6.0f} ms | {n / o:>5.0f}× | "
                  f"{'yes' if all(reached) else 'no'} (before: no)")
    tmp.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backlogs", type=int, nargs="+", default=[1000, 10000, 50000])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    asyncio.run(main(args.backlogs, args.rounds, args.database_url))
