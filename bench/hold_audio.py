"""Hold audio cost: CPU per minute of hold audio for one waiting caller, pre-encoded vs encoded per frame.

The playback loop sends one ``media`` message per 20 ms frame. The baseline encodes each frame
from PCM as prompts are (μ-law + base64 + JSON, ``TwilioSerializer.media``); Kefu's hold audio
wraps frames encoded once (``bot.ivr.hold_audio.hold_frames`` → ``media_payload``). The middle row is the prompts' path
now that ``media`` uses the same fixed JSON prefix.
Usage: ``python bench/hold_audio.py [--minutes 10]``.
"""
from __future__ import annotations

import argparse
import base64
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.ivr.hold_audio import hold_frames  # noqa: E402
from bot.ivr.twilio import TwilioSerializer  # noqa: E402
from voice.pcm import mulaw_encode, read_wav  # noqa: E402

FRAME = 320
FRAMES_PER_MINUTE = 3000
HOLD = ROOT / "content" / "media" / "hold_tone.wav"


def pcm_frames() -> list[bytes]:
    pcm = read_wav(HOLD).samples
    return [pcm[i:i + FRAME] for i in range(0, len(pcm) - FRAME + 1, FRAME)]


def per_frame_json(minutes: float) -> float:
    """The baseline: each frame encoded and wrapped with json.dumps, as prompts were sent before."""
    frames = pcm_frames()
    started = time.process_time()
    for index in range(int(minutes * FRAMES_PER_MINUTE)):
        payload = base64.b64encode(mulaw_encode(frames[index % len(frames)])).decode("ascii")
        json.dumps({"event": "media", "streamSid": "MZbench", "media": {"payload": payload}})
    return time.process_time() - started


def per_frame_encoding(minutes: float) -> float:
    serializer = TwilioSerializer()
    serializer.stream_sid = "MZbench"
    frames = pcm_frames()
    started = time.process_time()
    for index in range(int(minutes * FRAMES_PER_MINUTE)):
        serializer.media(frames[index % len(frames)])
    return time.process_time() - started


def pre_encoded(minutes: float) -> float:
    serializer = TwilioSerializer()
    serializer.stream_sid = "MZbench"
    started = time.process_time()
    frames = hold_frames(str(HOLD))  # once per file version, included here
    for index in range(int(minutes * FRAMES_PER_MINUTE)):
        serializer.media_payload(frames[index % len(frames)])
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10)
    args = parser.parse_args()
    baseline = per_frame_json(args.minutes)
    encoded = per_frame_encoding(args.minutes)
    ours = pre_encoded(args.minutes)
    print(f"| way of sending {args.minutes:g} min of hold audio | CPU ms | per minute (ms) | vs baseline |")
    print("|---|---|---|---|")
    print(f"| encode + json.dumps each frame (baseline) | {1000 * baseline:.1f} | "
          f"{1000 * baseline / args.minutes:.2f} | 1.00x |")
    print(f"| encode each frame, fixed JSON prefix (prompts now) | {1000 * encoded:.1f} | "
          f"{1000 * encoded / args.minutes:.2f} | {encoded / baseline:.2f}x |")
    print(f"| pre-encoded frames (Kefu) | {1000 * ours:.1f} | {1000 * ours / args.minutes:.2f} | "
          f"{ours / baseline:.2f}x |")


if __name__ == "__main__":
    main()
