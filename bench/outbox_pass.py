"""Outbox pass benchmark: what one pass of the customer-message worker costs while many texts wait for a
later retry (a gateway's bad hour), and whether a new text still goes out in that pass.

The pass reads every pending row that is due, a page at a time, and leaves the rows waiting for a later
retry in the database (``due_by`` in ``bot/outbound/outbox_rows.py``). The baseline is the pass before
retries: the first 100 pending rows only, read here with the same kind of query — cheap, but it never
reached a new text behind the backlog (the last column). A fresh SQLite file, or ``--database-url``; a
loopback SMS gateway answers the new text, whose send is part of "pass now".

``--sends N --kind KIND`` queues N new texts of KIND instead of one code, each to its own registered customer
(with a WeChat account bound, on nobody's block list): a pass's cost per text it sends, which for a text Kefu
sends on its own includes the opt-out check made at sending (``held_back`` in ``bot/notify.py``).

Usage: ``python bench/outbox_pass.py [--backlogs 1000 10000 50000] [--rounds 3] [--database-url URL]
[--sends 100 --kind repair_registered]``.
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


def recipients(repository, sends: int) -> list[str]:
    """``sends`` registered customers' numbers, each with a WeChat account bound (the check reads every address)."""
    import sqlalchemy as sa

    from bot.db.schema import channel_bindings, customers

    phones = [f"139{n:08d}" for n in range(sends)]
    with repository.engine.begin() as conn:
        if conn.execute(sa.select(sa.func.count()).select_from(customers)).scalar() < sends:
            conn.execute(customers.insert(), [{"phone": phone, "account_number": f"A{phone}", "name": "bench"}
                                              for phone in phones])
            ids = conn.execute(sa.select(customers.c.id).where(customers.c.phone.in_(phones))).scalars().all()
            conn.execute(channel_bindings.insert(), [{"channel": "wechat", "external_id": f"o-bench-{i}",
                                                      "customer_id": i} for i in ids])
    return phones


async def one_pass(repository, base_url: str, now: dt.datetime, sends: int = 1,
                   kind: str = "verification_code") -> tuple[float, bool]:
    from bot.outbound.sms import SmsGateway
    from bot.outbound.worker import deliver_pending

    to = recipients(repository, sends) if sends > 1 or kind != "verification_code" else ["13800000001"]
    new_ids = [repository.add_outbound(channel="sms", recipient=phone, kind=kind,
                                       payload={"text": "验证码 123456", "ticket_id": "TK000001"})
               for phone in to]
    started = time.perf_counter()
    await deliver_pending(repository, {"sms": SmsGateway(base_url, "k", "Kefu")}, now=now, limit=max(100, sends))
    took = time.perf_counter() - started
    sent = {row["id"] for row in repository.outbound(status="sent", channel="sms", limit=sends + 10)}
    return took, set(new_ids) <= sent


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


async def main(backlogs: list[int], rounds: int, database_url: str | None, sends: int = 1,
               kind: str = "verification_code") -> None:
    from bot.db.repository import Repository
    from tests.sms_loopback import sms_loopback

    tmp = tempfile.TemporaryDirectory()
    url = database_url or f"sqlite:///{Path(tmp.name) / 'bench.sqlite3'}"
    repository = Repository(url)
    repository.create_schema()
    print(f"database: {repository.engine.dialect.name}; median of {rounds} rounds per row; {sends} new {kind}")
    print(f"{'texts waiting':>13} | {'old read (first 100)':>20} | {'pass now':>9} | {'ratio':>6} | new text sent")
    async with sms_loopback() as (_, base_url):
        for backlog in backlogs:
            old, new, reached = [], [], []
            for _ in range(rounds):
                now = dt.datetime.utcnow()
                await asyncio.to_thread(fill, repository, backlog, now)
                old.append(first_hundred(repository))
                took, sent = await one_pass(repository, base_url, now, sends, kind)
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
    parser.add_argument("--sends", type=int, default=1, help="new texts queued before the pass (default 1)")
    parser.add_argument("--kind", default="verification_code", help="their kind (default verification_code)")
    args = parser.parse_args()
    asyncio.run(main(args.backlogs, args.rounds, args.database_url, args.sends, args.kind))
