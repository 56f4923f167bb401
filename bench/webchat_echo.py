"""Web chat: what showing the customer's message in the conversation's other tabs costs, same run.

Since the forty-second pass each accepted message is also emitted to its conversation's Socket.IO room
(``WebChatInput.show_typed``): delivered to the other tabs on the sending worker at once, and published
on Redis for the other workers, each of which decodes it, whether or not a page of the conversation is
open anywhere else. This measures the channel's own path (a stand-in assistant answers each message with
one reply, as ``tests/channels/test_webchat_inflight.py`` does: no Rasa turn) in one process: ``--workers``
web chat channels, each on a Sanic server of its own, on one real Redis, ``--conversations`` conversations
at once each sending ``--messages`` messages one after another, each waiting for its ack and its reply.
Conversations have one tab (on the first worker) or two (the second on the second worker).

Variants, alternated round by round so a noisy neighbour hurts each alike:

* ``no echo`` — the path before the forty-second pass (the live echo patched out): the baseline;
* ``echo, always published`` — the forty-second pass (the open-page count read beside the echo patched
  to "unknown", on which the channel publishes as it did);
* ``echo, published when another page is open`` — this pass: the presence write each message makes
  anyway (``bot.handoff.presence.page_alive``) also counts the conversation's open pages; with the
  sender's alone, nothing is emitted.

Prints, per variant and number of tabs: Redis PUBLISH and all Redis commands per message (INFO
commandstats), Redis CPU µs per message (INFO cpu), this process's CPU µs per message (workers, Redis
listeners and the clients together), p50 / p95 ms from send to the sending tab's reply, and the ratios
to ``no echo``.

    PYTHONPATH=. .venv/bin/python bench/webchat_echo.py [--redis-url redis://127.0.0.1:PORT/0]
        [--workers 2] [--conversations 20] [--messages 20] [--rounds 3]

Without ``--redis-url`` a Redis of its own is started on a free port (and stopped).
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

VARIANTS = ("no echo", "echo, always published", "echo, published when another page is open")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


class Tab:
    """One page of a conversation: the page's Socket.IO client, its replies in a queue."""

    def __init__(self) -> None:
        import socketio

        self.sio = socketio.AsyncClient(reconnection=False)
        self.replies: asyncio.Queue = asyncio.Queue()
        self.confirmed: asyncio.Queue = asyncio.Queue()
        self.sio.on("bot_uttered", self.replies.put)
        self.sio.on("session_confirm", self.confirmed.put)

    async def open(self, url: str, session_id: str | None = None) -> str:
        await self.sio.connect(url, socketio_path="socket.io", transports=["websocket"])
        await self.sio.emit("session_request", {"session_id": session_id})
        return await asyncio.wait_for(self.confirmed.get(), 10)

    async def say(self, session_id: str, text: str) -> float:
        """Seconds from sending a message to its reply on this tab."""
        started = time.perf_counter()
        ack = await self.sio.call("user_uttered", {"message": text, "session_id": session_id,
                                                   "client_id": uuid.uuid4().hex}, timeout=10)
        assert ack == {"ok": True}, ack
        await asyncio.wait_for(self.replies.get(), 10)
        return time.perf_counter() - started


async def answer(message) -> None:
    """The stand-in assistant: one reply per message."""
    await message.output_channel.send_response(message.sender_id, {"text": "您好，请问宽带是什么时候断的？"})


def as_variant(channel, variant: str) -> None:
    """Patch the channel's echo to ``variant`` (see the module docstring)."""
    channel.__dict__.pop("show_typed", None)
    channel.__dict__.pop("customer_seen", None)
    if variant == "no echo":
        show_typed = type(channel).show_typed.__get__(channel)

        async def replay_only(session_id, shown_id, text, *, skip_sid=None, **kwargs):
            if skip_sid is None:  # a resuming page's replay: not part of what is measured
                await show_typed(session_id, shown_id, text, skip_sid=skip_sid, **kwargs)

        channel.show_typed = replay_only
    elif variant == "echo, always published":
        customer_seen = type(channel).customer_seen.__get__(channel)

        async def count_unknown(*args, **kwargs):
            await customer_seen(*args, **kwargs)
            return None  # how many pages are open is not known: the echo is emitted, as before

        channel.customer_seen = count_unknown


async def redis_counts(client) -> tuple[int, int, float]:
    """PUBLISH calls, all command calls, and the server's CPU seconds so far."""
    stats = await client.info("commandstats")
    cpu = await client.info("cpu")
    publish = stats.get("cmdstat_publish", {}).get("calls", 0)
    total = sum(entry.get("calls", 0) for entry in stats.values() if isinstance(entry, dict))
    return publish, total, cpu["used_cpu_sys"] + cpu["used_cpu_user"]


async def drained(channels) -> None:
    """Every worker has published what it had waiting (its publisher is a background task, in order)."""
    while any(c.sio.manager._outbox is not None and not c.sio.manager._outbox.empty() for c in channels):
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.1)  # the last one taken off the queue, on its way


async def one_round(channels, urls: list[str], tabs: int, conversations: int, messages: int, redis) -> dict:
    opened: list[tuple[str, list[Tab]]] = []
    for _ in range(conversations):
        first = Tab()
        session_id = await first.open(urls[0])
        group = [first]
        for n in range(1, tabs):
            other = Tab()
            await other.open(urls[n % len(urls)], session_id)
            group.append(other)
        opened.append((session_id, group))
    await drained(channels)  # the connections' own messages are not counted
    await redis.config_resetstat()
    publish0, total0, cpu0 = await redis_counts(redis)
    process0 = time.process_time()

    async def converse(session_id: str, group: list[Tab]) -> list[float]:
        said = []
        for n in range(messages):
            said.append(await group[0].say(session_id, f"宽带又断了，第{n}次"))
            for other in group[1:]:
                await asyncio.wait_for(other.replies.get(), 10)  # the other tab got the reply too
        return said

    latencies = [s for each in await asyncio.gather(*(converse(*g) for g in opened)) for s in each]
    process_s = time.process_time() - process0
    await drained(channels)  # what the workers still publish in the background is counted
    publish1, total1, cpu1 = await redis_counts(redis)
    for _, group in opened:
        for tab in group:
            await tab.sio.disconnect()
    sent = conversations * messages
    return {"publish": (publish1 - publish0) / sent, "commands": (total1 - total0 - 2) / sent,
            "redis_us": (cpu1 - cpu0) / sent * 1e6, "process_us": process_s / sent * 1e6,
            "p50_ms": percentile(latencies, 0.5) * 1e3, "p95_ms": percentile(latencies, 0.95) * 1e3}


@contextlib.contextmanager
def redis_server(url: str | None):
    if url:
        yield url
        return
    from bot.embedded_redis import free_port, redis_server_binary

    port = free_port()
    process = subprocess.Popen([redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no"], stdout=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait()


async def run(args: argparse.Namespace, redis_url: str) -> None:
    import redis.asyncio as aioredis

    from bot import settings as settings_module
    from bot.channels.webchat import WebChatInput
    from bot.settings import from_environment
    from sanic import Sanic

    from tests.channels.test_webchat_inflight import served  # the tests' in-process worker

    Sanic.test_mode = True  # several apps in one process (tests/channels/conftest.py does the same)

    os.environ.setdefault("KEFU_DATA_DIR", tempfile.mkdtemp(prefix="bench-webchat-echo-"))
    for name in ("RASA_TOKEN", "ACTION_SECRET", "CHANNEL_SECRET", "JWT_SECRET", "IVR_TRUNK_TOKEN"):
        os.environ.setdefault(f"KEFU_{name}", f"bench-{name.lower()}")  # session ids are signed with one
    settings_module.get_settings.cache_clear()
    settings = from_environment({**os.environ, "REDIS_URL": redis_url, "KEFU_WEBCHAT_CONNECTIONS_PER_ADDRESS": "0",
                                 "KEFU_WEBCHAT_SESSIONS_PER_ADDRESS_PER_MINUTE": "0"})
    channels = [WebChatInput(settings, session_persistence=True, messages_per_minute=1_000_000)
                for _ in range(args.workers)]
    redis = aioredis.from_url(redis_url)
    results: dict[tuple[str, int], list[dict]] = {}
    async with contextlib.AsyncExitStack() as stack:
        urls = [await stack.enter_async_context(served(channel, answer)) for channel in channels]
        for _ in range(args.rounds):
            for tabs in (1, 2):
                for variant in VARIANTS:
                    for channel in channels:
                        as_variant(channel, variant)
                    results.setdefault((variant, tabs), []).append(
                        await one_round(channels, urls, tabs, args.conversations, args.messages, redis))
    await redis.close()
    print(f"{args.workers} workers, {args.conversations} conversations × {args.messages} messages, "
          f"{args.rounds} alternating rounds, medians; ratios to `no echo` with as many tabs\n")
    columns = ("publish", "commands", "redis_us", "process_us", "p50_ms", "p95_ms")
    print("| tabs | variant | PUBLISH / msg | Redis commands / msg | Redis CPU µs / msg | process CPU µs / msg "
          "| p50 ms | p95 ms |")
    print("|---|---|---|---|---|---|---|---|")
    for tabs in (1, 2):
        base = {c: statistics.median(r[c] for r in results[("no echo", tabs)]) for c in columns}
        for variant in VARIANTS:
            got = {c: statistics.median(r[c] for r in results[(variant, tabs)]) for c in columns}
            cells = [f"{got[c]:.2f} ({got[c] / base[c]:.2f}×)" if base[c] else f"{got[c]:.2f}" for c in columns]
            print(f"| {tabs} | {variant} | " + " | ".join(cells) + " |")


def main() -> None:
    import logging

    # Sanic logs each websocket's end as "Invalid response type None" (python-socketio answers it itself).
    logging.getLogger("sanic.error").setLevel(logging.CRITICAL)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default=None)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--conversations", type=int, default=20)
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with redis_server(args.redis_url) as url:
        asyncio.run(run(args, url))


if __name__ == "__main__":
    main()
