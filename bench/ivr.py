"""IVR benchmark: voice-to-voice latency and concurrent calls on this machine.

Starts the whole stack (like the tests: embedded Redis, action server, Rasa with the ivr
channel), then places calls over the Twilio-Media-Streams WebSocket with the call simulator:

* latency — the caller says a real recording (from ../shared/speech); measured from the end of
  the caller's speech (where the IVR's own VAD puts it, on the frame clock of the caller's line)
  to the first byte of the bot's answer arriving. It includes the endpointing hangover (the VAD
  must hear end_ms of mostly-silence), ASR, the flow engine, for bot turns Rasa, and TTS. Menu turn = a spoken menu choice; bot turn = free speech to the assistant.
* concurrency — N simultaneous calls each making one spoken menu choice; a level is sustained
  when every call completes, its answer starts within 2 s, and prompts stream in real time
  (≥ 95% of 50 frames/s reaching the caller).

Without VOSK_MODEL_PATH the recogniser is the test double (tests/ivr/scripted_asr.py), so ASR
time is ~0: run with a model for the real number. Usage: ``python bench/ivr.py [--levels 1,5,10]``.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CLIP = "aishell1_BAC009S0724W0121.wav"
BOT_CLIP = "cosyvoice_zero_shot_prompt.wav"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def one_turn(url: str, flow: str, pcm: bytes, speech_end_s: float, caller: str) -> dict:
    from tests.ivr.simulator import PhoneCall

    async with PhoneCall(url, caller=caller, flow=flow) as call:
        await call.wait_media(60)
        await asyncio.sleep(0.3)
        before = len(call.sent_frames)
        call.say(pcm)
        frames = len(pcm) // 320 + (1 if len(pcm) % 320 else 0)
        await call.wait_for(lambda: len(call.sent_frames) >= before + frames, 60, "speech sent")
        speech_end = call.sent_frames[before + int(speech_end_s / 0.02)][0]
        await call.wait_for(lambda: any(r.kind == "media" and r.at > speech_end + 0.05 for r in call.received),
                            60, "the answer")
        answer = next(r.at for r in call.received if r.kind == "media" and r.at > speech_end + 0.05)
        await asyncio.sleep(2.0)  # let the answer stream, to check real-time pacing
        window = [r.at for r in call.received if r.kind == "media" and answer <= r.at <= answer + 2.0]
        await call.hangup()
    return {"latency": answer - speech_end, "fps": len(window) / 2.0}


async def run(levels: list[int], samples: int) -> None:
    from bot.embedded_redis import free_port
    from bot.ivr.call_audio import PHONE_VAD
    from bot.settings import from_environment
    from bot.stack import KefuStack
    from bot.training import ensure_model
    from tests.channels.stack_env import channel_environment
    from tests.ivr.scripted_asr import speech_seconds, write_script
    from tests.ivr.stack_env import ivr_environment
    from voice.audio import decode_file
    from voice.pcm import mulaw_decode, mulaw_encode
    from voice.vad import find_speech_span

    speech = ROOT.parent / "shared" / "speech"
    clips = {name: mulaw_decode(mulaw_encode(decode_file(speech / name, target_rate=8000).samples))
             for name in (CLIP, BOT_CLIP)}
    import tempfile

    data_dir = Path(tempfile.mkdtemp(prefix="kefu-bench-"))
    env = dict(os.environ, KEFU_DATA_DIR=str(data_dir), KEFU_RASA_PORT=str(free_port()),
               KEFU_ACTION_PORT=str(free_port()))
    env.update(channel_environment(data_dir, ROOT, env))
    env.update(ivr_environment(data_dir, ROOT, env))
    import yaml  # the tests cap utterances at 4 s; the bench keeps the shipped cap

    shipped = yaml.safe_load((ROOT / "content" / "ivr.yml").read_text(encoding="utf-8"))["limits"]
    config_path = Path(env["KEFU_IVR_CONFIG"])
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    config["limits"]["max_utterance_seconds"] = shipped["max_utterance_seconds"]
    config_path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    env.pop("KEFU_DATABASE_URL", None)
    model, _ = ensure_model(ROOT, ROOT / "models", quiet=True)
    stack = KefuStack(from_environment(env), model=model).start()
    try:
        write_script(data_dir, [(speech_seconds(clips[CLIP], 8000), "我想查话费"),
                                (speech_seconds(clips[BOT_CLIP], 8000), "宽带坏了")])
        url = f"ws://{stack.settings.host}:{stack.settings.rasa_port}/webhooks/ivr/media"
        ends = {name: find_speech_span(pcm, 8000, PHONE_VAD)[1] for name, pcm in clips.items()}
        await one_turn(url, "t_menu", clips[CLIP], ends[CLIP], "13900000000")  # warm the TTS cache
        rows = []
        for label, flow, clip in (("menu turn (1 call)", "t_menu", CLIP), ("bot turn (1 call)", "t_bot", BOT_CLIP)):
            results = [await one_turn(url, flow, clips[clip], ends[clip], f"1390000{i:04d}") for i in range(samples)]
            lat = [r["latency"] for r in results]
            rows.append((label, len(results), percentile(lat, .5), percentile(lat, .95),
                         min(r["fps"] for r in results), "-"))
        sustained = 0
        for level in levels:
            calls = [one_turn(url, "t_menu", clips[CLIP], ends[CLIP], f"1391{level:03d}{i:04d}") for i in range(level)]
            results = await asyncio.gather(*calls, return_exceptions=True)
            good = [r for r in results if isinstance(r, dict)]
            lat = [r["latency"] for r in good] or [float("nan")]
            fps = min((r["fps"] for r in good), default=0.0)
            ok = len(good) == level and max(lat) < 2.0 and fps >= 47.5
            sustained = level if ok else sustained
            rows.append((f"{level} concurrent calls", f"{len(good)}/{level}", percentile(lat, .5),
                         percentile(lat, .95), fps, "yes" if ok else "no"))
    finally:
        stack.stop()
    print(f"\nKefu IVR benchmark — {os.cpu_count()} cores, ASR: "
          f"{'Vosk' if os.environ.get('VOSK_MODEL_PATH') else 'scripted test recogniser (no model)'}")
    print("voice-to-voice = end of caller speech -> first byte of bot audio (includes the VAD hangover)\n")
    print(f"| {'scenario':<22} | {'calls':>6} | {'p50 (s)':>7} | {'p95 (s)':>7} | {'min fps':>7} | sustained |")
    print(f"|{'-' * 24}|{'-' * 8}|{'-' * 9}|{'-' * 9}|{'-' * 9}|-----------|")
    for label, calls, p50, p95, fps, ok in rows:
        print(f"| {label:<22} | {calls!s:>6} | {p50:7.2f} | {p95:7.2f} | {fps:7.1f} | {ok:<9} |")
    print(f"\nconcurrent calls sustained: {sustained}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="1,5,10,20,40")
    parser.add_argument("--samples", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(run([int(n) for n in args.levels.split(",")], args.samples))


if __name__ == "__main__":
    main()
