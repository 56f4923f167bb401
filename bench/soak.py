"""Soak: mixed chat, WeChat and phone traffic for a bounded time while a server process is killed
and Redis is restarted once.

Starts its own stack (embedded Redis, own database, free ports), then runs virtual customers on
127.0.0.1 only: REST chat, WeChat (plain mode, signed like WeChat's servers; replies that miss the
4.5 s passive window arrive through a loopback customer-service API) and phone calls over
the Twilio Media Streams WebSocket (key presses on the test menu flow). A third of the way in the
Rasa server gets ``kill -9`` and is started again; once it serves again, Redis is stopped and
started on the same port. Customers behave like real clients: a message the server could not take
(connection refused or reset, 502/503) is sent again until ``--patience`` runs out.

A message is *answered* when the bot replied (an apology from ``domain/operations.yml`` counts
separately as *apologised*: the customer heard something clear); it is *lost* when it never got
either — a 500, an empty answer (silence) or no answer within the patience. Lost must be 0.
Phone calls cut by the kill, or refused or unanswered while no server listened, are counted as calls, not
messages; a caller whose call failed rings again, as the other customers resend.

Usage: ``python bench/soak.py [--seconds 150] [--customers 6] [--patience 180]``.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MESSAGES = ["我家电视没信号了", "宽带上不了网", "查一下话费", "你好", "谢谢", "wifi密码忘了怎么办", "我要投诉"]
RETRY_STATUSES = {502, 503, 504}


@dataclass
class Tally:
    """Outcomes per phase; ``phase`` is read at send time (before / during / after the faults)."""

    phase: str = "before"
    sent: int = 0
    answered: int = 0
    apologised: int = 0
    lost: int = 0
    retries: int = 0
    errors: dict = field(default_factory=dict)
    latency: dict = field(default_factory=lambda: {"before": [], "during": [], "after": []})
    calls: int = 0
    # Calls that heard the menu, pressed a key and hung up, by the phase they rang in.
    calls_completed: dict = field(default_factory=lambda: {"before": 0, "during": 0, "after": 0})
    calls_refused: int = 0
    calls_dropped: int = 0
    faults_done_at: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def error(self, kind: str) -> None:
        with self.lock:
            self.errors[kind] = self.errors.get(kind, 0) + 1


def apology_texts() -> set[str]:
    import yaml

    responses = yaml.safe_load((ROOT / "domain" / "operations.yml").read_text(encoding="utf-8"))["responses"]
    return {variant["text"] for variants in responses.values() for variant in variants}


def send_until_answered(tally: Tally, post, patience: float, apologies: set[str], channel: str) -> None:
    """One customer message: resend while the server cannot take it, then classify the answer."""
    import requests

    phase, started = tally.phase, time.monotonic()
    with tally.lock:
        tally.sent += 1
    while True:
        try:
            status, texts = post()
        except (requests.ConnectionError, requests.Timeout) as exc:
            status, texts = None, []
            tally.error(type(exc).__name__)
        if status is not None and status not in RETRY_STATUSES:
            break
        if status in RETRY_STATUSES:
            tally.error(f"HTTP {status}")
        if time.monotonic() - started > patience:
            break
        with tally.lock:
            tally.retries += 1
        time.sleep(1.0)
    elapsed = time.monotonic() - started
    with tally.lock:
        if status == 200 and texts and any(t in apologies for t in texts):
            tally.apologised += 1
        elif status == 200 and texts:
            tally.answered += 1
            tally.latency[phase].append(elapsed)
        else:
            tally.lost += 1
            tally.errors[f"lost ({status}, {channel})"] = tally.errors.get(f"lost ({status}, {channel})", 0) + 1


def chat_customer(stack, tally: Tally, stop: threading.Event, patience: float, apologies: set[str]) -> None:
    import requests

    url = f"{stack.settings.rasa_url}/webhooks/rest/webhook"
    sender = "soak-chat-" + uuid.uuid4().hex[:8]

    def post():
        answer = requests.post(url, json={"sender": sender, "message": random.choice(MESSAGES)}, timeout=60)
        texts = [m.get("text") or "" for m in answer.json()] if answer.status_code == 200 else []
        return answer.status_code, texts

    while not stop.is_set():
        send_until_answered(tally, post, patience, apologies, "chat")
        stop.wait(random.uniform(1.0, 3.0))


def wechat_customer(stack, tally: Tally, stop: threading.Event, patience: float, apologies: set[str],
                    api) -> None:
    import requests
    from defusedxml import ElementTree

    from tests.channels.wechat_client import WeChatServer, new_msg_id, new_openid, text_xml

    server = WeChatServer(f"{stack.settings.rasa_url}/webhooks/wechat/webhook")
    openid = new_openid()

    def post():
        pushed_before = len(api.sent_to(openid))
        answer = server.request("POST", server.query(), text_xml(openid, random.choice(MESSAGES), new_msg_id()).encode(),
                                timeout=60)
        if answer.status != 200:
            return answer.status, []
        if answer.body.strip() == "success":  # answered later through the customer-service API
            deadline = time.monotonic() + patience
            while time.monotonic() < deadline and len(api.sent_to(openid)) <= pushed_before:
                time.sleep(0.2)
            pushed = api.sent_to(openid)[pushed_before:]
            return 200, [(m.get("text") or {}).get("content") or m.get("msgtype", "") for m in pushed]
        return 200, [ElementTree.fromstring(answer.body).findtext("Content") or ""]

    def post_safely():
        try:
            return post()
        except (ConnectionError, OSError) as exc:  # urllib's errors, as requests' would be retried
            raise requests.ConnectionError(str(exc)) from exc

    while not stop.is_set():
        send_until_answered(tally, post_safely, patience, apologies, "wechat")
        stop.wait(random.uniform(1.0, 3.0))


def phone_customer(stack, tally: Tally, stop: threading.Event) -> None:
    """Short calls: press 1 on the test menu, wait for the prompt, hang up; again and again."""
    import websockets

    from tests.ivr.simulator import PhoneCall

    url = f"ws://{stack.settings.host}:{stack.settings.rasa_port}/webhooks/ivr/media"

    async def one_call() -> None:
        phase = tally.phase
        call = PhoneCall(url, caller=f"139{random.randint(0, 99_999_999):08d}", flow="t_menu")
        try:
            await call.__aenter__()
        except (OSError, asyncio.TimeoutError, websockets.WebSocketException) as exc:
            with tally.lock:  # no server to ring, or one still starting that does not answer the handshake
                tally.calls_refused += 1  # the carrier retries; nothing was said yet
            tally.error(f"call {type(exc).__name__}")
            return
        with tally.lock:
            tally.calls += 1
        try:
            await call.wait_media(30)
            await call.press("1")
            await asyncio.sleep(2)
            await call.hangup()
            with tally.lock:
                tally.calls_completed[phase] += 1
        except (OSError, asyncio.TimeoutError, websockets.WebSocketException, AssertionError) as exc:
            with tally.lock:
                tally.calls_dropped += 1
            tally.error(f"call {type(exc).__name__}")
            await call.close()

    while not stop.is_set():
        try:
            asyncio.run(asyncio.wait_for(one_call(), 60))
        except asyncio.TimeoutError:  # a call that hung for a minute: cut, and the caller rings again
            with tally.lock:
                tally.calls_dropped += 1
            tally.error("call hung")
        stop.wait(random.uniform(1.0, 3.0))


def start_stack(data_dir: Path):
    """The stack plus a loopback WeChat API (replies that miss WeChat's 4.5 s are pushed there)."""
    from bot import settings as settings_module
    from bot.embedded_redis import free_port
    from bot.stack import KefuStack
    from tests.channels.stack_env import WECHAT_APP_ID, WECHAT_APP_SECRET, WECHAT_TOKEN
    from tests.channels.wechat_loopback import WeChatLoopback
    from tests.ivr.stack_env import ivr_environment

    api = WeChatLoopback(WECHAT_APP_ID, WECHAT_APP_SECRET, free_port()).start()
    env = dict(os.environ)
    for name in ("REDIS_URL", "KEFU_DATABASE_URL", "PROMETHEUS_MULTIPROC_DIR", "WECHAT_AES_KEY"):
        env.pop(name, None)
    env.update(KEFU_DATA_DIR=str(data_dir), KEFU_RASA_PORT=str(free_port()), KEFU_ACTION_PORT=str(free_port()),
               KEFU_REDIS_PORT=str(free_port()), WECHAT_TOKEN=WECHAT_TOKEN, WECHAT_APP_ID=WECHAT_APP_ID,
               WECHAT_APP_SECRET=WECHAT_APP_SECRET, WECHAT_API_BASE_URL=f"http://127.0.0.1:{api.port}")
    env.update(ivr_environment(data_dir, ROOT, env))
    return KefuStack(settings_module.from_environment(env)).start(), api


def run_faults(stack, tally: Tally, seconds: float, log: list[str]) -> None:
    """kill -9 the Rasa server a third of the way in, then restart Redis once it serves again."""
    import requests

    from bot.security.secrets import load_secrets
    from tests.ops.faults import kill, restart, wait_for

    time.sleep(seconds / 3)
    tally.phase = "during"
    command = kill(stack, "bot.security.rasa_server", signal.SIGKILL)
    log.append(f"{time.strftime('%H:%M:%S')} kill -9 Rasa server")
    restart(stack, command, "rasa.log")
    api = {"token": load_secrets(stack.settings).rasa_token}  # /status is behind Rasa's API token
    wait_for(lambda: requests.get(f"{stack.settings.rasa_url}/status", params=api, timeout=2).ok, 600, "Rasa restart")
    log.append(f"{time.strftime('%H:%M:%S')} Rasa server serving again")
    time.sleep(5)
    stack._redis.stop()
    log.append(f"{time.strftime('%H:%M:%S')} Redis stopped")
    time.sleep(2)
    stack._redis.start()
    log.append(f"{time.strftime('%H:%M:%S')} Redis started")
    wait_for(lambda: requests.get(f"{stack.settings.rasa_url}/health", timeout=5).status_code == 200, 60,
             "/health after Redis restart")
    log.append(f"{time.strftime('%H:%M:%S')} /health 200")
    tally.phase = "after"
    tally.faults_done_at = time.monotonic()


def traffic_done(tally: Tally, started: float, seconds: float, faults: threading.Thread) -> bool:
    """The run lasts ``seconds`` and at least a third of that again after the faults are over."""
    if faults.is_alive() or time.monotonic() - started < seconds:
        return False
    return tally.faults_done_at is None or time.monotonic() - tally.faults_done_at >= seconds / 3


def percentile(values: list[float], q: float) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    return f"{ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]:.2f}"


def report(tally: Tally, log: list[str], seconds: float) -> None:
    print("\nFaults:")
    for line in log:
        print("  " + line)
    print(f"\nMessages sent {tally.sent}, answered {tally.answered}, apologised {tally.apologised}, "
          f"lost {tally.lost} (must be 0); resends while a part was down {tally.retries}")
    print(f"Phone calls connected {tally.calls}, cut mid-call {tally.calls_dropped} (up when the server was killed); "
          f"refused or unanswered while no server listened {tally.calls_refused}")
    print("Phone calls completed (menu heard, key pressed, hung up), by the phase they rang in: "
          + ", ".join(f"{phase} {count}" for phase, count in tally.calls_completed.items())
          + " (after must not be 0)")
    print("Errors seen by clients: " + (", ".join(f"{k} x{v}" for k, v in sorted(tally.errors.items())) or "none"))
    print("\n| phase | answered | p50 (s) | p95 (s) | max (s) |\n|---|---|---|---|---|")
    for phase in ("before", "during", "after"):
        values = tally.latency[phase]
        print(f"| {phase} | {len(values)} | {percentile(values, 0.5)} | {percentile(values, 0.95)} | "
              f"{max(values) if values else 0:.2f} |")
    print(f"\nA message counts in the phase it was sent in; 'during' = from the kill until /health is 200 after "
          f"the Redis restart. Run length {seconds:.0f}s.")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=150, help="traffic time after the stack is up")
    parser.add_argument("--customers", type=int, default=6, help="virtual customers, split over the channels")
    parser.add_argument("--patience", type=float, default=240, help="how long a customer resends one message")
    args = parser.parse_args()
    from tqdm import tqdm

    data_dir = Path(tempfile.mkdtemp(prefix="kefu-soak-"))
    print(f"Starting a stack in {data_dir} (first run trains the model)...", flush=True)
    stack, api = start_stack(data_dir)
    tally, stop, log = Tally(), threading.Event(), []
    apologies = apology_texts()
    kinds = [chat_customer, wechat_customer, phone_customer]
    threads = []
    for i in range(args.customers):
        kind = kinds[i % len(kinds)]
        extra = {chat_customer: (args.patience, apologies), wechat_customer: (args.patience, apologies, api),
                 phone_customer: ()}[kind]
        threads.append(threading.Thread(target=kind, args=(stack, tally, stop, *extra), daemon=True))
    faults = threading.Thread(target=run_faults, args=(stack, tally, args.seconds, log), daemon=True)
    started = time.monotonic()
    try:
        for thread in threads:
            thread.start()
        faults.start()
        with tqdm(total=int(args.seconds), unit="s", desc="soak") as bar:
            while not traffic_done(tally, started, args.seconds, faults):
                time.sleep(1)
                bar.n = min(int(time.monotonic() - started), int(args.seconds))
                bar.set_postfix(phase=tally.phase, sent=tally.sent, lost=tally.lost, refresh=False)
                bar.refresh()
                if time.monotonic() - started > args.seconds + 900:
                    log.append("faults did not finish within 15 min of the run's end")
                    break
        stop.set()
        for thread in threads:
            thread.join(timeout=args.patience + 60)
    finally:
        stack.stop()
        api.stop()
    report(tally, log, time.monotonic() - started)
    # Nothing lost, and the phone line works again once the faults are over.
    return 0 if tally.lost == 0 and tally.calls_completed["after"] else 1


if __name__ == "__main__":
    sys.exit(main())
