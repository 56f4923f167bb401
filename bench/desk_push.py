"""How soon a customer's message reaches the agent desk: pushed (server-sent events, the desk
today) against the old desk's one-second polling, in the same run on the same stack.

Starts Kefu on free ports (embedded Redis), queues a REST conversation, claims it as the demo
agent, then sends ``--messages`` customer messages and times, for each, the moment it shows up
(a) on the event stream and (b) in a poll of the messages endpoint every second (the baseline).
Usage: ``python bench/desk_push.py [--messages 20]``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot import settings as settings_module  # noqa: E402
from bot.embedded_redis import free_port  # noqa: E402
from bot.stack import KefuStack  # noqa: E402

HEADERS = {"X-Kefu-Desk": "1"}
POLL_INTERVAL_S = 1.0  # the old desk's setInterval(pollMessages, 1000)


def say(url: str, sender: str, text: str) -> None:
    requests.post(f"{url}/webhooks/rest/webhook", json={"sender": sender, "message": text}, timeout=60)


def watch_stream(session: requests.Session, url: str, sender: str, seen: dict, stop: threading.Event) -> None:
    with session.get(f"{url}/agent/api/conversations/{requests.utils.quote(sender, safe='')}/stream",
                     stream=True, timeout=120) as reply:
        for raw in reply.iter_lines():  # bytes: str.splitlines would also split on U+2028 and friends
            if stop.is_set():
                return
            line = raw.decode("utf-8")
            if line.startswith("data: "):
                for turn in json.loads(line[6:])["turns"]:
                    seen.setdefault(turn["text"], time.perf_counter())


def watch_polling(session: requests.Session, url: str, sender: str, seen: dict, stop: threading.Event) -> None:
    last = -1
    while not stop.is_set():
        data = session.get(f"{url}/agent/api/conversations/{requests.utils.quote(sender, safe='')}/messages",
                           params={"after": last}, timeout=30).json()
        for turn in data["turns"]:
            seen.setdefault(turn["text"], time.perf_counter())
        last = data["last"]
        time.sleep(POLL_INTERVAL_S)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20)
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="kefu-bench-desk-"))
    env = dict(os.environ, KEFU_DATA_DIR=str(data_dir), KEFU_RASA_PORT=str(free_port()),
               KEFU_ACTION_PORT=str(free_port()))
    env.pop("KEFU_DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    stack = KefuStack(settings_module.from_environment(env)).start()
    try:
        url, settings = stack.settings.rasa_url, stack.settings
        sender = f"bench+{uuid.uuid4().hex[:8]}"
        say(url, sender, "转人工")
        stream_session, poll_session = requests.Session(), requests.Session()
        for session in (stream_session, poll_session):
            session.headers.update(HEADERS)
            session.post(f"{url}/agent/api/login", json={"name": settings.demo_agent_name,
                                                         "password": settings.demo_agent_password}).raise_for_status()
        claimed = stream_session.post(f"{url}/agent/api/claim", json={}).json()["conversation"]
        assert claimed and claimed["conversation_id"] == sender, claimed
        pushed, polled, sent = {}, {}, {}
        stop = threading.Event()
        for target, seen in ((watch_stream, pushed), (watch_polling, polled)):
            threading.Thread(target=target, args=(stream_session if seen is pushed else poll_session, url, sender,
                                                  seen, stop), daemon=True).start()
        time.sleep(2)
        for n in range(args.messages):
            text = f"第{n}条消息 {uuid.uuid4().hex[:6]}"
            sent[text] = time.perf_counter()
            say(url, sender, text)
            time.sleep(0.7)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not all(t in pushed and t in polled for t in sent):
            time.sleep(0.1)
        stop.set()
    finally:
        stack.stop()
    rows = []
    for name, seen in (("pushed (server-sent events)", pushed), ("polled every 1 s (baseline)", polled)):
        delays = sorted(seen[t] - sent[t] for t in sent if t in seen)
        rows.append((name, delays))
    base = statistics.median(rows[1][1]) if rows[1][1] else float("nan")
    print(f"Customer message -> agent desk, {args.messages} messages over REST, same stack")
    print("| delivery | received | p50 (s) | p95 (s) | max (s) | p50 vs baseline |")
    print("|---|---|---|---|---|---|")
    for name, delays in rows:
        p50 = statistics.median(delays) if delays else float("nan")
        p95 = delays[int(0.95 * (len(delays) - 1))] if delays else float("nan")
        print(f"| {name} | {len(delays)}/{args.messages} | {p50:.3f} | {p95:.3f} | {max(delays or [float('nan')]):.3f} "
              f"| {p50 / base:.2f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
