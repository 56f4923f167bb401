"""IVR benchmark: voice-to-voice latency and concurrent calls on this machine.

Starts the whole stack (like the tests: embedded Redis, action server, Rasa with the ivr
channel), then places calls over the Twilio-Media-Streams WebSocket with the call simulator:

* latency — the caller says a sentence spoken by Kefu's own TTS in words the Vosk model knows,
  recognised for real; measured from the end of the caller's speech (where the IVR's own VAD puts
  it, on the frame clock of the caller's line) to the first byte of the bot's answer arriving. It
  includes end-of-turn detection, ASR decoding, the flow engine, for bot turns Rasa, and TTS.
  Menu turn = a spoken menu choice ("我想查话费" → option 话费); bot turn = free speech to the
  assistant ("宽带上不了网").
* ASR decode time — per clip, on this process: the whole utterance decoded after it ended (what
  a turn costs when recognition starts at end of speech) and the final result of a stream that
  was fed while the caller spoke (what is left to do once the turn ends).
* concurrency — N simultaneous calls each making one spoken menu choice; a level is sustained
  when every call completes, its answer starts within 2 s, and prompts stream in real time
  (≥ 95% of 50 frames/s reaching the caller).

Recognition is real: VOSK_MODEL_PATH, or the shared test model at ../shared/models when unset.
Usage: ``python bench/ivr.py [--levels 1,5,10] [--samples 10]``.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MENU_SENTENCE = "我想查话费"
BOT_SENTENCE = "宽带上不了网"
TEST_MODEL = ROOT.parent / "shared" / "models" / "vosk-model-kefu-test-zh"
SHIPPED_LIMITS = yaml.safe_load((ROOT / "content" / "ivr.yml").read_text(encoding="utf-8"))["limits"]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


# End-of-turn settings compared side by side in one run (limits in the IVR config, re-read per call).
BEFORE = {"end_of_turn_free_speech_seconds": 0.4}  # the previous session's free-speech quick end
AFTER = {"end_of_turn_free_speech_seconds": None}  # None: what content/ivr.yml ships
TIMING = re.compile(r"ivr\.turn\.timing\b.*?call=\S+ why=(\S+) ((?:\w+=-?\d+ ?)+)")


RASA_TURN = re.compile(r"ivr\.bot\.turn\b.*?rasa_ms=(\d+)")


def turn_stages(log_text: str) -> list[dict]:
    """The ``ivr.turn.timing`` lines (bot/ivr/turn_timing.py) in a piece of the stack's log; a bot
    turn's engine time is split into the Rasa turn (``ivr.bot.turn``) and the rest."""
    stages = [dict(why=m.group(1), **{k: float(v) for k, v in (kv.split("=") for kv in m.group(2).split())})
              for m in TIMING.finditer(log_text)]
    rasa = [float(m.group(1)) for m in RASA_TURN.finditer(log_text)]
    for turn in stages:
        turn["rasa_ms"] = rasa[0] if len(stages) == 1 and len(rasa) == 1 else 0.0
    return stages


def use_limits(config_path: Path, limits: dict) -> None:
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    config["limits"].update({k: v for k, v in limits.items() if v is not None})
    for key in [k for k, v in limits.items() if v is None]:
        if key in SHIPPED_LIMITS:
            config["limits"][key] = SHIPPED_LIMITS[key]
        else:
            config["limits"].pop(key, None)
    config_path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")


async def timed_turn(url: str, log: Path, *args, **kwargs) -> dict:
    """:func:`one_turn` plus the stack's own split of that turn's time (from its log)."""
    offset = log.stat().st_size
    result = await one_turn(url, *args, **kwargs)
    with log.open("rb") as handle:
        handle.seek(offset)
        stages = turn_stages(handle.read().decode("utf-8", "replace"))
    return dict(result, stages=stages[0] if stages else {})


async def one_turn(url: str, flow: str, pcm: bytes, speech_end_s: float, caller: str,
                   expect_mark: str = "", trunk: str = "") -> dict:
    from tests.ivr.simulator import PhoneCall

    # As the operator's trunk does: a stream nobody vouched for may hold only a share of the places
    # (max_unvouched_calls), which would cap the concurrency levels below.
    async with PhoneCall(url, caller=caller, flow=flow, parameters={"kefuTrunkToken": trunk}) as call:
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
        understood = True
        if expect_mark:
            try:
                await call.wait_mark(expect_mark, 10)
            except AssertionError:
                understood = False
        await call.hangup()
    return {"latency": answer - speech_end, "fps": len(window) / 2.0, "understood": understood}


def decode_times(pcm: bytes, repeats: int = 5) -> tuple[float, float]:
    """(whole utterance decoded after it ended, final result of a stream fed while speaking)."""
    import time

    from voice.vosk_engine import VoskEngine

    engine = VoskEngine.from_settings()
    engine.load()
    whole, final = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        engine.transcribe_pcm(pcm, 8000)
        whole.append(time.perf_counter() - started)
        stream = engine.new_stream(8000)
        for offset in range(0, len(pcm), 320):
            stream.accept(pcm[offset:offset + 320])
        started = time.perf_counter()
        stream.final()
        final.append(time.perf_counter() - started)
    return percentile(whole, .5), percentile(final, .5)


async def run(levels: list[int], samples: int) -> None:
    from bot.embedded_redis import free_port
    from bot.ivr.call_audio import PHONE_VAD
    from bot.settings import from_environment
    from bot.stack import KefuStack
    from bot.training import ensure_model
    from tests.channels.stack_env import channel_environment
    from tests.ivr.stack_env import ivr_environment
    from tests.speech import spoken_on_the_phone
    from voice.vad import find_speech_span

    clips = {text: spoken_on_the_phone(text) for text in (MENU_SENTENCE, BOT_SENTENCE)}
    decoding = {text: decode_times(pcm) for text, pcm in clips.items()}
    import tempfile

    data_dir = Path(tempfile.mkdtemp(prefix="kefu-bench-"))
    env = dict(os.environ, KEFU_DATA_DIR=str(data_dir), KEFU_RASA_PORT=str(free_port()),
               KEFU_ACTION_PORT=str(free_port()))
    env.update(channel_environment(data_dir, ROOT, env))
    env.update(ivr_environment(data_dir, ROOT, env))
    config_path = Path(env["KEFU_IVR_CONFIG"])  # the tests cap utterances at 4 s; the bench keeps the shipped cap
    use_limits(config_path, {"max_utterance_seconds": None, **AFTER})
    env.pop("KEFU_DATABASE_URL", None)
    model, _ = ensure_model(ROOT, ROOT / "models", quiet=True)
    stack = KefuStack(from_environment(env), model=model).start()
    try:
        from bot.security.secrets import load_secrets

        trunk = load_secrets(stack.settings).ivr_trunk_token
        url = f"ws://{stack.settings.host}:{stack.settings.rasa_port}/webhooks/ivr/media"
        ends = {name: find_speech_span(pcm, 8000, PHONE_VAD)[1] for name, pcm in clips.items()}
        await one_turn(url, "t_menu", clips[MENU_SENTENCE], ends[MENU_SENTENCE], "13900000000",
                       trunk=trunk)  # warm caches
        log = stack.settings.data_dir / "logs" / "rasa.log"
        # The first bot turn after start is cold (Rasa's first prediction, reply not yet in the TTS
        # cache): shown on its own, so it does not land in one setting's samples only.
        cold = await timed_turn(url, log, "t_bot", clips[BOT_SENTENCE], ends[BOT_SENTENCE], "13800000000",
                                trunk=trunk)
        rows, compared = [], []
        for label, flow, text, mark in (("menu turn (1 call)", "t_menu", MENU_SENTENCE, "bill"),
                                        ("bot turn (1 call)", "t_bot", BOT_SENTENCE, "")):
            by_setting: dict[str, list] = {"before": [], "after": []}
            for i in range(samples):  # before/after alternate call by call: both see the same load
                for name, limits in (("before", BEFORE), ("after", AFTER)):
                    use_limits(config_path, limits)
                    [outcome] = await asyncio.gather(
                        timed_turn(url, log, flow, clips[text], ends[text], f"1390{i:03d}{len(name):04d}", mark,
                                   trunk=trunk),
                        return_exceptions=True)
                    by_setting[name].append(outcome)
            for name, outcomes in by_setting.items():
                results = [r for r in outcomes if isinstance(r, dict)]  # a call that broke is counted, not timed
                lat = [r["latency"] for r in results] or [float("nan")]
                understood = sum(r["understood"] for r in results) if mark else len(results)
                rows.append((f"{label}, {name}", f"{understood}/{samples}", percentile(lat, .5),
                             percentile(lat, .95), min((r["fps"] for r in results), default=0.0), "-"))
                compared.append((label, name, lat, [r["stages"] for r in results if r["stages"]]))
        use_limits(config_path, AFTER)
        sustained = 0
        for level in levels:
            calls = [one_turn(url, "t_menu", clips[MENU_SENTENCE], ends[MENU_SENTENCE], f"1391{level:03d}{i:04d}",
                              trunk=trunk)
                     for i in range(level)]
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
    print(f"\nKefu IVR benchmark — {os.cpu_count()} cores, ASR: Vosk, model {os.environ['VOSK_MODEL_PATH']}")
    print("\n| utterance | decode whole utterance after it ended (ms) | final result of a fed stream (ms) |")
    print("|---|---|---|")
    for text, (whole, final) in decoding.items():
        print(f"| {text} | {1000 * whole:.0f} | {1000 * final:.0f} |")
    print("\nvoice-to-voice = end of caller speech -> first byte of bot audio (includes end-of-turn detection);")
    print("calls = answers that took the right menu branch (menu) or came at all (bot) / calls placed\n")
    print(f"| {'scenario':<22} | {'calls':>6} | {'p50 (s)':>7} | {'p95 (s)':>7} | {'min fps':>7} | sustained |")
    print(f"|{'-' * 24}|{'-' * 8}|{'-' * 9}|{'-' * 9}|{'-' * 9}|-----------|")
    for label, calls, p50, p95, fps, ok in rows:
        print(f"| {label:<22} | {calls!s:>6} | {p50:7.2f} | {p95:7.2f} | {fps:7.1f} | {ok:<9} |")
    print(f"\nconcurrent calls sustained: {sustained}")
    print_comparison(compared)
    print(f"\ncold first bot turn after start: {cold['latency']:.2f} s, stages (ms) {cold['stages']}")


def print_comparison(compared: list) -> None:
    """Before/after side by side as ratios, and where each setting's time went (medians, ms)."""
    from bot.ivr.turn_timing import STAGES

    print(f"\nbefore = {BEFORE}, after = the shipped limits "
          f"({ {k: SHIPPED_LIMITS.get(k) for k in AFTER} }), alternating call by call\n")
    print("| scenario | p50 before | p50 after | after/before | p95 before | p95 after | after/before |")
    print("|---|---|---|---|---|---|---|")
    table = {(label, name): lat for label, name, lat, _ in compared}
    for label in dict.fromkeys(label for label, *_ in compared):
        before, after = table[(label, "before")], table[(label, "after")]
        b50, a50, b95, a95 = (percentile(before, .5), percentile(after, .5),
                              percentile(before, .95), percentile(after, .95))
        print(f"| {label} | {b50:.2f} s | {a50:.2f} s | {a50 / b50:.2f} | {b95:.2f} s | {a95:.2f} s | {a95 / b95:.2f} |")
    print("\nwhere the time went (median ms per stage, from the stack's ivr.turn.timing log lines;")
    print("wait = caller silence the end-of-turn rule waited for, flush = recogniser final result,")
    print("engine = flow engine incl. the Rasa turn, audio = reply synthesis/cache up to the first frame)\n")
    print("| scenario | setting | turns | ended by | " + " | ".join(STAGES) + " | sum | of engine: Rasa turn |"
          " max engine_ms | max audio_ms |")
    print("|---|---|---|---|" + "---|" * (len(STAGES) + 4))
    for label, name, _, stages in compared:
        if not stages:
            continue
        medians = [statistics.median(s[k] for s in stages) for k in STAGES]
        whys = ",".join(sorted({s["why"] for s in stages}))
        print(f"| {label} | {name} | {len(stages)} | {whys} | " + " | ".join(f"{m:.0f}" for m in medians)
              + f" | {sum(medians):.0f} | {statistics.median(s['rasa_ms'] for s in stages):.0f} | "
              f"{max(s['engine_ms'] for s in stages):.0f} | {max(s['audio_ms'] for s in stages):.0f} |")


def main() -> None:
    if not os.environ.get("VOSK_MODEL_PATH"):
        if not TEST_MODEL.is_dir():
            sys.exit(f"bench/ivr.py: set VOSK_MODEL_PATH (no model at {TEST_MODEL} either)")
        os.environ["VOSK_MODEL_PATH"] = str(TEST_MODEL)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="1,5,10,20,40")
    parser.add_argument("--samples", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(run([int(n) for n in args.levels.split(",")], args.samples))


if __name__ == "__main__":
    main()
