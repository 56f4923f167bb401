"""Outcome recorder and KPI cost, side by side with the baseline in the same run.

Baseline: what the five statistics writers did before (one INSERT per event in a worker
thread, no idempotency check). New: ``bot.outcomes.record`` (INSERT after an event-id check),
and the same while the database is unreachable (buffered in memory), then both again with Redis
configured (the database-down events parked in a Redis list, as in production). For each: mean and p95 time for
``await record(...)`` and the longest event-loop stall seen by a 1 ms ticker meanwhile.
Then the KPIs over synthetic logs of growing size.

    PYTHONPATH=. .venv/bin/python bench/outcomes.py
"""
from __future__ import annotations

import asyncio
import datetime as dt
import random
import statistics
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from bot.analytics.contacts import split_contacts
from bot.analytics.kpis import figures
from bot.db.migrate import upgrade
from bot.db.repository import engine_for
from bot.db.schema import conversation_events
from bot.outcomes.recorder import OutcomeRecorder, outcome_event

EVENTS = 300


async def stall_while(work) -> tuple[list[float], float]:
    worst = 0.0
    done = False

    async def ticker():
        nonlocal worst
        while not done:
            before = time.perf_counter()
            await asyncio.sleep(0.001)
            worst = max(worst, time.perf_counter() - before - 0.001)

    tick = asyncio.create_task(ticker())
    times = await work()
    done = True
    await tick
    return times, worst


async def baseline(url: str) -> list[float]:
    engine = engine_for(url)

    def insert(n: int) -> None:
        with engine.begin() as conn:
            conn.execute(conversation_events.insert().values(conversation_id=f"c{n % 20}", kind="intent_seen",
                                                             channel="rest", data={"intent": "query_bill"}))
    times = []
    for n in range(EVENTS):
        start = time.perf_counter()
        await asyncio.to_thread(insert, n)
        times.append(time.perf_counter() - start)
    return times


async def recorder_run(url: str, redis_url: str | None = None) -> list[float]:
    recorder = OutcomeRecorder(url, redis_url)
    times = []
    for n in range(EVENTS):
        start = time.perf_counter()
        await recorder.record(outcome_event(f"c{n % 20}", "intent_seen", channel="rest", intent="query_bill"))
        times.append(time.perf_counter() - start)
    return times


def synthetic_log(contacts: int) -> list[dict]:
    rng = random.Random(1)
    t0 = dt.datetime(2026, 3, 2, 9)
    log = []
    for n in range(contacts):
        at = t0 + dt.timedelta(seconds=rng.uniform(0, 7 * 86400))
        who = f"customer:{rng.randint(1, contacts // 3)}"
        kinds = ["contact_started", "intent_seen", "selfhelp_sent", "selfhelp_resolved"]
        if rng.random() < 0.3:
            kinds += ["handoff_queued", "handoff_claimed", "handoff_closed"]
        for step, kind in enumerate(kinds):
            log.append({"id": len(log), "conversation_id": f"c{n}", "kind": kind, "channel": "webchat",
                        "customer": who if step == 0 else "", "at": at + dt.timedelta(seconds=step * 20),
                        "data": {"intent": "fault_tv", "selfhelp_id": "tv", "wait_s": rng.expovariate(1 / 20),
                                 "handle_s": 200}})
    return log


def main() -> None:
    from bot.embedded_redis import EmbeddedRedis

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.sqlite3'}"
        upgrade(engine_for(url))  # the schema is the migrations', as kefu run makes it
        down = f"sqlite:///{Path(folder) / 'missing' / 'bench.sqlite3'}"
        redis_server = EmbeddedRedis(Path(folder) / "redis").start()
        try:
            rows = [("baseline: INSERT in a thread", asyncio.run(stall_while(lambda: baseline(url)))),
                    ("recorder: database up", asyncio.run(stall_while(lambda: recorder_run(url)))),
                    ("recorder: database down", asyncio.run(stall_while(lambda: recorder_run(down)))),
                    ("recorder+Redis: database up",
                     asyncio.run(stall_while(lambda: recorder_run(url, redis_server.url)))),
                    ("recorder+Redis: down, parked",
                     asyncio.run(stall_while(lambda: recorder_run(down, redis_server.url))))]
        finally:
            redis_server.stop()
        with engine_for(url).connect() as conn:
            stored = conn.execute(sa.select(sa.func.count()).select_from(conversation_events)).scalar_one()
    base = statistics.mean(rows[0][1][0])
    print(f"{EVENTS} events each; stored rows (baseline + recorder up, twice): {stored}\n")
    print(f"{'writer':32} {'mean ms':>8} {'p95 ms':>8} {'vs base':>8} {'max loop stall ms':>18}")
    for name, (times, stall) in rows:
        p95 = sorted(times)[int(len(times) * 0.95)]
        print(f"{name:32} {statistics.mean(times) * 1000:8.2f} {p95 * 1000:8.2f} "
              f"{statistics.mean(times) / base:7.2f}x {stall * 1000:18.1f}")
    print(f"\n{'KPIs over':32} {'events':>8} {'seconds':>8}")
    for contacts in (1_000, 10_000, 50_000):
        log = synthetic_log(contacts)
        start = time.perf_counter()
        figures(split_contacts(log), sl_seconds=20)
        print(f"{f'{contacts} contacts':32} {len(log):8d} {time.perf_counter() - start:8.2f}")


if __name__ == "__main__":
    main()
