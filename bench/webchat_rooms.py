"""The web chat's messages between workers on Redis: python-socketio's pickle against Kefu's JSON, same run.

Every reply to a web-chat page goes through this channel (``bot.channels.webchat.RoomsAcrossWorkers``):
one worker encodes the emit, every worker decodes it. Kefu replaced python-socketio 5.9's pickle with
JSON of the known shapes (``bot.channels.webchat_rooms``), because unpickling what anyone can publish
on the Redis runs their code. This times the encode and the decode of a realistic reply (a self-help
answer with buttons and a video link) both ways, alternating, and prints the ratio.

    PYTHONPATH=. .venv/bin/python bench/webchat_rooms.py [--messages 20000] [--rounds 5]
"""
from __future__ import annotations

import argparse
import pickle
import statistics
import time

from bot.channels import webchat_rooms

REPLY = {
    "method": "emit", "event": "bot_uttered", "namespace": "/", "room": "3f9a0c2e7b5d4e1f8a6b2c9d0e1f2a3b",
    "skip_sid": None, "callback": None, "host_id": "8c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f",
    "data": {"text": "请先按视频里的步骤重启光猫：拔掉电源，等30秒再插上，2分钟后看指示灯。", "timestamp": 1796462829.947,
             "buttons": [{"title": "已解决", "payload": "/affirm"}, {"title": "还是不行", "payload": "/deny"},
                         {"title": "转人工", "payload": "/request_human"}],
             "attachment": {"type": "video", "payload": {"src": "/media/selfhelp/bb_restart.mp4",
                                                         "poster": "/media/selfhelp/bb_restart.jpg"}}},
}


def per_message_us(encode, decode, messages: int) -> tuple[float, float]:
    """Mean µs to encode one message, and to decode one."""
    started = time.perf_counter()
    for _ in range(messages):
        raw = encode(REPLY)
    encoded = time.perf_counter()
    for _ in range(messages):
        decode(raw)
    decoded = time.perf_counter()
    return (encoded - started) / messages * 1e6, (decoded - encoded) / messages * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    assert webchat_rooms.decode(webchat_rooms.encode(REPLY)) == REPLY
    ways = {"pickle (python-socketio 5.9)": (pickle.dumps, pickle.loads),
            "JSON, shapes checked (Kefu)": (webchat_rooms.encode, webchat_rooms.decode)}
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in ways}
    for _ in range(args.rounds):  # alternating, so a noisy neighbour hurts both alike
        for name, (encode, decode) in ways.items():
            times[name].append(per_message_us(encode, decode, args.messages))
    sizes = {name: len(encode(REPLY)) for name, (encode, _) in ways.items()}
    base = statistics.median(e + d for e, d in times["pickle (python-socketio 5.9)"])
    print(f"{args.messages} messages × {args.rounds} rounds, medians\n")
    print("| wire | bytes | encode µs | decode µs | total µs | ratio to pickle |")
    print("|---|---|---|---|---|---|")
    for name, runs in times.items():
        encode_us = statistics.median(e for e, _ in runs)
        decode_us = statistics.median(d for _, d in runs)
        total = statistics.median(e + d for e, d in runs)
        print(f"| {name} | {sizes[name]} | {encode_us:.1f} | {decode_us:.1f} | {total:.1f} | {total / base:.2f}× |")


if __name__ == "__main__":
    main()
