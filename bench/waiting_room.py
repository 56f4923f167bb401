"""Queue-at-the-peak benchmark: what one waiting-room pass, and one read of the waiting list, cost
with N web chats waiting.

The tick visits every waiting customer and tells them their place when it changed. The baseline is
the tick before ``bot.handoff.line``: each customer's place looked up on its own
(``WaitingRoom.visit``, which reads everyone ahead: their kinds and whether their page is gone), so a
pass grew with the square of the queue. "line" is today's ``WaitingRoom.tick``: the queue read once
per skill, places from running counts. Both passes run on the same queue, in the same run, on a
second visit (transcripts already read: what a quiet minute of the peak looks like), half the web
chats' pages closed a moment ago (still in line, passed over), one agent online.

The waiting list is what every agent's desk reads every two seconds (``Desk.overview``), and the
supervisor's page and the wallboard too: every waiting entry. The baseline reads them one at a time
(``HandoffQueue.entry``), as those pages did; "pipelined" is ``HandoffQueue.entries``. Each entry
carries a packet with a 20-turn transcript, as a real handoff does.

A real Redis: ``--redis-url`` (use a database you can flush) or an embedded server.
Usage: ``python bench/waiting_room.py [--waiting 10 100 1000] [--rounds 3] [--redis-url URL]``.
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


class QuietConversations:
    """The Rasa side of customers who say nothing new while they wait: no transcript to read."""

    async def stored_count(self, conversation_id: str) -> int:
        return 0

    async def events(self, conversation_id: str) -> list[dict]:
        return []

    async def utter(self, conversation_id: str, response: str, **values) -> None:
        pass

    async def resume(self, conversation_id: str, response: str | None, **values) -> None:
        pass


async def fill(queue, waiting: int) -> list[str]:
    from bot.handoff.presence import mark_customer_seen
    from bot.handoff.queue import HandoffRequest

    await queue.redis.flushdb()
    await queue.roster.register("a1", name="王芳", skills=["tv"], capacity=2, status="available")
    await queue.roster.heartbeat("a1")
    ids = [f"bench-{i}" for i in range(waiting)]
    packet = {"slots": {"fault_type": "fault_tv"},
              "transcript": [{"who": "customer", "text": "电视没信号，换了台也没用，机顶盒也重启过了"}] * 20}
    for i, conversation_id in enumerate(ids):
        await queue.enqueue(HandoffRequest(conversation_id, "webchat", "tv", 0, None, packet))
        if i % 2:
            await mark_customer_seen(queue.redis, conversation_id, queue.clock())  # seen once; page closed
    return ids


async def timed(action) -> float:
    started = time.perf_counter()
    await action()
    return time.perf_counter() - started


async def measure(redis_url: str, sizes: list[int], rounds: int) -> list[tuple[int, float, float, float, float]]:
    import redis.asyncio as aioredis

    from bot.handoff.queue import HandoffQueue
    from bot.handoff.rules import load_rules
    from bot.handoff.waiting_settings import load_waiting_room
    from bot.handoff.watcher import WaitingRoom

    async def nothing(*_args) -> None:
        pass

    client = aioredis.Redis.from_url(redis_url)
    now = time.time()  # held still: nobody's grace period runs out between the passes compared
    queue = HandoffQueue(client, lambda: now, rules=load_rules(ROOT / "content" / "handoff.yml"), recorder=nothing)
    room = WaitingRoom(queue, QuietConversations(), load_waiting_room(ROOT / "content" / "waiting_room.yml"))
    rows = []
    for size in sizes:
        ids = await fill(queue, size)
        await room.tick()  # the first visit reads each (empty) transcript; the passes below are quiet ones

        async def one_by_one() -> None:
            for conversation_id in ids:
                await room.visit(conversation_id)

        async def entry_by_entry() -> None:
            for conversation_id in await queue.waiting("tv"):
                await queue.entry(conversation_id)

        async def pipelined() -> None:
            await queue.entries(await queue.waiting("tv"))

        before = statistics.median([await timed(one_by_one) for _ in range(rounds)])
        after = statistics.median([await timed(room.tick) for _ in range(rounds)])
        listed_before = statistics.median([await timed(entry_by_entry) for _ in range(rounds)])
        listed_after = statistics.median([await timed(pipelined) for _ in range(rounds)])
        rows.append((size, before, after, listed_before, listed_after))
    await client.flushdb()
    await client.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waiting", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--redis-url", help="a Redis database the benchmark may flush (default: embedded)")
    args = parser.parse_args()
    server = None
    url = args.redis_url
    if not url:
        from bot.embedded_redis import EmbeddedRedis

        server = EmbeddedRedis(Path(tempfile.mkdtemp(prefix="kefu-bench-"))).start()
        url = server.url
    try:
        rows = asyncio.run(measure(url, args.waiting, args.rounds))
    finally:
        if server:
            server.stop()
    print(f"One waiting-room pass, median of {args.rounds}, half the pages closed")
    print("| waiting web chats | before: a lookup per customer | after: one line per tick | ratio |")
    print("|---|---|---|---|")
    for size, before, after, _, _ in rows:
        print(f"| {size:,} | {before * 1000:.1f} ms | {after * 1000:.1f} ms | {after / before:.2f}× |")
    print(f"\nOne read of the waiting list (desk, supervisor, wallboard), median of {args.rounds}")
    print("| waiting web chats | before: entry by entry | after: pipelined | ratio |")
    print("|---|---|---|---|")
    for size, _, _, before, after in rows:
        print(f"| {size:,} | {before * 1000:.1f} ms | {after * 1000:.1f} ms | {after / before:.2f}× |")


if __name__ == "__main__":
    main()
