"""Bad input at the peak: a burst from one sender and a conversation with a 10 000-event tracker.

Kefu and plain single-process ``rasa run`` serve the same model side by side in the same run
(the systems of ``bench/chat.py``):

* **burst** — one sender fires ``--burst`` messages at once (a stuck key, a script, a retrying
  client). Reported: how long until every message was answered, errors (HTTP ≠ 200 or no answer
  in 30 s), how many user turns the tracker holds afterwards (nothing may be lost), and how long a
  *different* customer waited for one turn sent in the middle of the burst — the burst must not
  stall everyone else.
* **huge tracker** — a conversation whose tracker already holds ``--events`` events (appended
  through Rasa's HTTP API, not timed) takes ``--turns`` more turns; their latency is compared with
  the same turns of a fresh conversation, on both systems.

Usage: ``python bench/bad_input.py [--burst 50] [--events 10000] [--turns 10] [--workers 2]``
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from chat import PlainRasa, fmt, percentile, send_turn, start_kefu  # noqa: E402 - bench helpers

TEXTS = ["我家电视没信号了", "帮我查一下话费", "你们有什么宽带套餐", "谢谢你"]


def api_params(system: str, stack) -> dict:
    if system != "kefu":
        return {}
    from bot.security.secrets import load_secrets

    return {"token": load_secrets(stack.settings).rasa_token}


async def user_turns(session, url: str, sender: str, params: dict) -> int:
    async with session.get(f"{url}/conversations/{sender}/tracker", params=params) as answer:
        tracker = await answer.json()
    return sum(1 for event in tracker.get("events") or [] if event.get("event") == "user")


async def burst(url: str, params: dict, count: int) -> dict:
    import aiohttp

    sender, bystander = f"burst-{time.time_ns()}", f"bystander-{time.time_ns()}"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        webhook = f"{url}/webhooks/rest/webhook"

        async def bystander_turn() -> float:
            await asyncio.sleep(0.05)  # once the burst is in flight
            started = time.perf_counter()
            ok = await send_turn(session, webhook, bystander, TEXTS[1])
            return time.perf_counter() - started if ok else float("nan")

        started = time.perf_counter()
        results = await asyncio.gather(bystander_turn(), *(
            send_turn(session, webhook, sender, TEXTS[n % len(TEXTS)]) for n in range(count)))
        elapsed = time.perf_counter() - started
        kept = await user_turns(session, url, sender, params)
    return {"seconds": elapsed, "errors": sum(1 for ok in results[1:] if not ok), "kept": kept,
            "bystander": results[0]}


async def huge_tracker(url: str, params: dict, events: int, turns: int) -> tuple[list[float], list[float]]:
    """Latencies of ``turns`` turns on a fresh conversation and on one holding ``events`` events."""
    import aiohttp

    fresh, heavy = f"fresh-{time.time_ns()}", f"heavy-{time.time_ns()}"
    now = time.time()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        for start in range(0, events, 1000):  # a long history: user turns and bot answers
            batch = []
            for n in range(start, min(events, start + 1000)):
                batch.append({"event": "user", "text": TEXTS[n % len(TEXTS)], "timestamp": now - events + n,
                              "parse_data": {"intent": {"name": "greet", "confidence": 1.0}, "entities": []}}
                             if n % 2 == 0 else
                             {"event": "bot", "text": "好的", "timestamp": now - events + n})
            async with session.post(f"{url}/conversations/{heavy}/tracker/events", params=params,
                                    json=batch) as answer:
                if answer.status != 200:
                    raise SystemExit(f"could not prefill the tracker: HTTP {answer.status} {await answer.text()}")
        timings: dict[str, list[float]] = {fresh: [], heavy: []}
        webhook = f"{url}/webhooks/rest/webhook"
        for n in range(turns):
            for sender in (fresh, heavy):  # alternate, so a noisy neighbour hurts both alike
                started = time.perf_counter()
                if await send_turn(session, webhook, sender, TEXTS[n % len(TEXTS)]):
                    timings[sender].append(time.perf_counter() - started)
    return timings[fresh], timings[heavy]


async def benchmark(args) -> None:
    from bot.embedded_redis import free_port
    from bot.training import ensure_model

    model, _ = ensure_model(ROOT, ROOT / "models")
    work = Path(tempfile.mkdtemp(prefix="kefu-badinput-"))
    plain = PlainRasa(model, free_port(), work).start()
    kefu = start_kefu(model, work / "kefu", args.workers)
    systems = {"plain rasa": (plain.url, {}), "kefu": (kefu.settings.rasa_url, api_params("kefu", kefu))}
    try:
        print(f"\n### Burst: {args.burst} messages at once from one sender\n")
        print("| system | all answered after | errors | user turns kept | another customer's turn meanwhile |")
        print("|---|---|---|---|---|")
        for name, (url, params) in systems.items():
            result = await burst(url, params, args.burst)
            print(f"| {name} | {result['seconds']:.1f} s | {result['errors']} | {result['kept']} of {args.burst} "
                  f"| {fmt(result['bystander'])} ms |")
        print(f"\n### A conversation with {args.events} events: {args.turns} more turns\n")
        print("| system | fresh p50 ms | fresh p95 ms | huge p50 ms | huge p95 ms | huge/fresh p50 |")
        print("|---|---|---|---|---|---|")
        for name, (url, params) in systems.items():
            fresh, heavy = await huge_tracker(url, params, args.events, args.turns)
            ratio = percentile(heavy, .5) / percentile(fresh, .5) if fresh and heavy else float("nan")
            print(f"| {name} | {fmt(percentile(fresh, .5))} | {fmt(percentile(fresh, .95))} | "
                  f"{fmt(percentile(heavy, .5))} | {fmt(percentile(heavy, .95))} | {ratio:.2f}× |")
    finally:
        kefu.stop()
        plain.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--burst", type=int, default=50, help="messages one sender fires at once")
    parser.add_argument("--events", type=int, default=10_000, help="events in the huge tracker")
    parser.add_argument("--turns", type=int, default=10, help="timed turns per conversation")
    parser.add_argument("--workers", type=int, default=None, help="KEFU_WORKERS for Kefu (default: its own)")
    asyncio.run(benchmark(parser.parse_args()))


if __name__ == "__main__":
    main()
