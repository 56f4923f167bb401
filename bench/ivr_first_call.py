"""The first phone call after start-up: how long until the caller hears the greeting.

Starts the whole stack (``KefuStack``, as ``kefu run``) in a fresh data folder (cold TTS cache, as
after a deploy) with the shipped flows and the Vosk model at ``VOSK_MODEL_PATH``, and measures:

* readiness: from starting the stack until the Rasa server answers ``/version`` (what ``kefu run``
  waits for before it says the stack is up);
* the first call's wait: from the media stream's ``start`` to the first frame of bot audio, for a
  call placed ``--delay`` seconds after readiness, then the same for a second call.

    VOSK_MODEL_PATH=../shared/models/vosk-model-kefu-test-zh python bench/ivr_first_call.py --delay 0
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


async def greeting_wait(url: str) -> float:
    from tests.ivr.simulator import PhoneCall

    started = time.monotonic()
    async with PhoneCall(url, flow="main") as call:
        await call.wait_media(60)
        first = next(r.at for r in call.received if r.kind == "media")
        await call.hangup()
    return first - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=0.0, help="seconds between readiness and the first call")
    args = parser.parse_args()

    from bot.embedded_redis import free_port
    from bot.settings import from_environment
    from bot.stack import KefuStack
    from bot.training import model_path

    model = model_path(ROOT, ROOT / "models")
    if not model.is_file():
        sys.exit(f"no trained model at {model}: run `kefu train` first")
    data_dir = Path(tempfile.mkdtemp(prefix="kefu-first-call-"))
    env = dict(os.environ, KEFU_DATA_DIR=str(data_dir), KEFU_RASA_PORT=str(free_port()),
               KEFU_ACTION_PORT=str(free_port()), KEFU_WORKERS="1")
    env.pop("KEFU_DATABASE_URL", None)
    settings = from_environment(env)
    began = time.monotonic()
    stack = KefuStack(settings, model=model).start()
    try:
        ready = time.monotonic() - began
        time.sleep(args.delay)
        url = f"ws://{settings.host}:{settings.rasa_port}/webhooks/ivr/media"
        first = asyncio.run(greeting_wait(url))
        second = asyncio.run(greeting_wait(url))
    finally:
        stack.stop()
    print(f"readiness {ready:.1f} s; first call's greeting after {first:.2f} s "
          f"(placed {args.delay:g} s after readiness); second call's after {second:.2f} s")


if __name__ == "__main__":
    main()
