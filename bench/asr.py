"""ASR benchmark: real-time factor, character error rate and concurrent real-time streams.

Two clip sets, each decoded at 16 kHz and at 8 kHz (phone):
* the real human recordings in ../shared/speech against transcripts.tsv — with the shipped
  *test* model expect a CER near 100 %: it was trained only on synthetic espeak-ng speech of the
  hotline's words (../shared/models/README.md); a production model is needed for real voices;
* TTS sentences: Kefu's own TTS saying hotline sentences written for this benchmark in words the
  model knows (these takes were never in its training audio; the sentences may overlap its text).
Then N concurrent 8 kHz streams fed in real time, each on its own thread as the decode executor
runs them, to find how many live calls one core can decode.
Model: VOSK_MODEL_PATH, or ../shared/models/vosk-model-kefu-test-zh when unset.
Usage: ``python bench/asr.py [--streams 1,2,4,8,16]``.
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SPEECH = ROOT.parent / "shared" / "speech"
TEST_MODEL = ROOT.parent / "shared" / "models" / "vosk-model-kefu-test-zh"
TTS_SENTENCES = ["我家宽带一直掉线", "电视黑屏没有声音", "帮我查一下本月话费", "光猫红灯一直闪",
                 "我想办理宽带升级", "明天上午可以上门维修吗", "路由器重置以后还是上不了网", "我要投诉"]


def real_clips() -> list[tuple[str, str, dict[int, bytes]]]:
    from voice.audio import decode_file

    with open(SPEECH / "transcripts.tsv", encoding="utf-8") as table:
        rows = list(csv.DictReader(table, delimiter="\t"))
    return [(row["file"], row["transcript"], {rate: decode_file(SPEECH / row["file"], target_rate=rate).samples
                                              for rate in (16000, 8000)}) for row in rows]


def tts_clips() -> list[tuple[str, str, dict[int, bytes]]]:
    from tests.speech import spoken, spoken_on_the_phone

    return [(f"tts:{text}", text, {16000: spoken(text, 16000), 8000: spoken_on_the_phone(text)})
            for text in TTS_SENTENCES]


def stream(engine, pcm: bytes, rate: int, realtime: bool) -> tuple[str, float]:
    """Feed 20 ms frames (paced like a live caller when ``realtime``); return text and the lag at the end."""
    from voice.pcm import iter_frames

    recognizer = engine.new_stream(rate)
    started = time.perf_counter()
    for index, frame in enumerate(iter_frames(pcm, rate, 20)):
        if realtime:
            time.sleep(max(0.0, started + index * 0.02 - time.perf_counter()))
        recognizer.accept(frame)
    text = recognizer.final().text
    return text, time.perf_counter() - started - len(pcm) / 2 / rate


def decode_table(engine, title: str, clips) -> list[bytes]:
    from voice.metrics import char_error_rate

    print(f"\n{title}\n\n| clip | seconds | RTF 16 kHz | RTF 8 kHz | CER 16 kHz | CER 8 kHz | heard (8 kHz) |")
    print("|---|---|---|---|---|---|---|")
    errors = {16000: [], 8000: []}
    for name, reference, audio in clips:
        rtf, cer, heard = {}, {}, ""
        for rate, pcm in audio.items():
            started = time.perf_counter()
            heard, _ = stream(engine, pcm, rate, realtime=False)
            seconds = len(pcm) / 2 / rate
            rtf[rate] = (time.perf_counter() - started) / seconds
            cer[rate] = char_error_rate(reference, heard)
            errors[rate].append((cer[rate], len(reference)))
        print(f"| {name} | {seconds:.1f} | {rtf[16000]:.3f} | {rtf[8000]:.3f} | {cer[16000]:.0%} | "
              f"{cer[8000]:.0%} | {heard or '-'} |")
    for rate, values in errors.items():
        total = sum(n for _, n in values)
        print(f"CER over the set at {rate // 1000} kHz: {sum(c * n for c, n in values) / total:.1%}")
    return [audio[8000] for _, _, audio in clips]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", default="1,2,4,8,16")
    args = parser.parse_args()
    os.environ.setdefault("VOSK_MODEL_PATH", str(TEST_MODEL))
    from voice.errors import ModelMissingError
    from voice.vosk_engine import VoskEngine

    try:
        engine = VoskEngine.from_settings()
        started = time.perf_counter()
        engine.load()
    except ModelMissingError as exc:
        print(f"bench/asr.py: {exc}")
        return 1
    print(f"Kefu ASR benchmark — {os.cpu_count()} cores, model {engine.model_dir} "
          f"(loaded in {time.perf_counter() - started:.2f} s)")
    audio = decode_table(engine, "Real human recordings (../shared/speech)", real_clips())
    audio += decode_table(engine, "Kefu's TTS, sentences in the model's words", tts_clips())
    print("\n| concurrent 8 kHz real-time streams | worst lag at end (s) | keeps up | streams per core |")
    print("|---|---|---|---|")
    for count in (int(n) for n in args.streams.split(",")):
        with ThreadPoolExecutor(count) as pool:
            lags = [lag for _, lag in pool.map(lambda i: stream(engine, audio[i % len(audio)], 8000, True),
                                               range(count))]
        keeps_up = max(lags) < 0.5
        print(f"| {count} | {max(lags):.2f} | {'yes' if keeps_up else 'no'} | "
              f"{count / (os.cpu_count() or 1):.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
