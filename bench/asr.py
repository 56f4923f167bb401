"""ASR benchmark: real-time factor, character error rate and concurrent real-time streams.

Runs Vosk on the real recordings in ../shared/speech against transcripts.tsv. Needs a model
(VOSK_MODEL_PATH); without one it says so and stops, since there is nothing honest to measure.
Usage: ``python bench/asr.py [--streams 1,2,4,8]``.
"""
from __future__ import annotations

import argparse
import csv
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SPEECH = ROOT.parent / "shared" / "speech"

from voice.audio import decode_file  # noqa: E402
from voice.errors import ModelMissingError  # noqa: E402
from voice.metrics import char_error_rate  # noqa: E402
from voice.pcm import iter_frames  # noqa: E402
from voice.vosk_engine import VoskEngine  # noqa: E402


def clips() -> list[tuple[Path, str]]:
    with open(SPEECH / "transcripts.tsv", encoding="utf-8") as table:
        return [(SPEECH / row["file"], row["transcript"]) for row in csv.DictReader(table, delimiter="\t")]


def stream(engine: VoskEngine, pcm: bytes, rate: int, realtime: bool) -> tuple[str, float]:
    """Feed 20 ms frames (paced like a live caller when ``realtime``); return text and the lag at the end."""
    recognizer = engine.new_stream(rate)
    started = time.perf_counter()
    for index, frame in enumerate(iter_frames(pcm, rate, 20)):
        if realtime:
            time.sleep(max(0.0, started + index * 0.02 - time.perf_counter()))
        recognizer.accept(frame)
    text = recognizer.final().text
    return text, time.perf_counter() - started - len(pcm) / 2 / rate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", default="1,2,4,8")
    args = parser.parse_args()
    try:
        engine = VoskEngine.from_settings()
        engine.load()
    except ModelMissingError as exc:
        print(f"bench/asr.py: {exc}")
        return 1
    print("| clip | seconds | RTF (16 kHz) | RTF (8 kHz) | CER |")
    print("|---|---|---|---|---|")
    audio = []
    for path, reference in clips():
        rows = []
        for rate in (16000, 8000):
            pcm = decode_file(path, target_rate=rate).samples
            started = time.perf_counter()
            text, _ = stream(engine, pcm, rate, realtime=False)
            rows.append((time.perf_counter() - started) / (len(pcm) / 2 / rate))
            if rate == 16000:
                cer, seconds = char_error_rate(reference, text), len(pcm) / 2 / rate
            else:
                audio.append(pcm)
        print(f"| {path.name} | {seconds:.1f} | {rows[0]:.2f} | {rows[1]:.2f} | {cer:.1%} |")
    print("\n| concurrent 8 kHz streams | worst lag at end (s) | real time |")
    print("|---|---|---|")
    for count in (int(n) for n in args.streams.split(",")):
        with ThreadPoolExecutor(count) as pool:
            lags = [lag for _, lag in pool.map(lambda i: stream(engine, audio[i % len(audio)], 8000, True), range(count))]
        print(f"| {count} | {max(lags):.2f} | {'yes' if max(lags) < 0.5 else 'no'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
