"""TTS benchmark: time to synthesise each prompt of the main IVR flow, uncached and cached.

Uses the real pyttsx3/espeak-ng engine with a fresh cache folder, so the first pass measures
synthesis and the second the disk cache. Usage: ``python bench/tts.py [--rate 8000]``.
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

from bot.ivr.flow_loader import load_flow_file  # noqa: E402
from bot.settings import get_settings  # noqa: E402
from voice.pcm import wav_duration  # noqa: E402
from voice.tts import Pyttsx3Engine  # noqa: E402


async def measure(engine: Pyttsx3Engine, texts: list[str], rate: int) -> list[tuple[float, float]]:
    timings = []
    for text in texts:
        started = time.perf_counter()
        wav = await engine.synthesize(text, sample_rate=rate)
        timings.append((time.perf_counter() - started, wav_duration(wav)))
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=8000)
    args = parser.parse_args()
    flow = load_flow_file(ROOT / "ivr_flows" / "main.yml")
    texts = sorted({node.say for node in flow.nodes.values() if node.say})
    settings = get_settings()
    with tempfile.TemporaryDirectory(prefix="kefu-bench-tts-") as cache:
        engine = Pyttsx3Engine(settings.tts_voice, settings.tts_rate, cache)
        uncached = asyncio.run(measure(engine, texts, args.rate))
        cached = asyncio.run(measure(engine, texts, args.rate))
    seconds = [s for s, _ in uncached]
    audio = [d for _, d in uncached]
    print(f"TTS benchmark — {len(texts)} prompts of ivr_flows/main.yml, {args.rate} Hz, voice {settings.tts_voice}")
    print("| pass | mean (s) | p95 (s) | max (s) | audio per prompt (s) | speed (audio s / synth s) |")
    print("|---|---|---|---|---|---|")
    for name, rows in (("uncached", uncached), ("cached", cached)):
        times = sorted(s for s, _ in rows)
        p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
        print(f"| {name} | {statistics.mean(times):.3f} | {p95:.3f} | {times[-1]:.3f} | "
              f"{statistics.mean(audio):.1f} | {sum(audio) / sum(times):.0f}x |")
    print(f"longest prompt: {max(audio):.1f} s of audio in {seconds[audio.index(max(audio))]:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
