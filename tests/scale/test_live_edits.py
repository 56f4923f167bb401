"""A broken ivr.yml and handoff.yml saved during a live call: the call and the queue go on."""
from __future__ import annotations

import asyncio
import random

import pytest
import redis.asyncio as aioredis

from tests.ivr.simulator import PhoneCall
from tests.scale.test_editor_files import save

pytestmark = pytest.mark.slow


async def test_broken_editor_files_saved_mid_call_keep_the_call_and_queue_working(two_processes):
    stack, _ = two_processes
    from bot.handoff.queue import HandoffQueue
    from bot.handoff.rules import load_rules

    settings = stack.settings
    ivr_yml, handoff_yml = settings.ivr_config_path, settings.content_dir / "handoff.yml"
    originals = {path: path.read_text(encoding="utf-8") for path in (ivr_yml, handoff_yml)}
    url = f"ws://{settings.host}:{settings.rasa_port}/webhooks/ivr/media"
    redis = aioredis.from_url(stack.redis_url)
    try:
        async with PhoneCall(url, caller=f"139{random.randint(0, 99_999_999):08d}", flow="t_menu") as call:
            await call.wait_media()
            save(ivr_yml, originals[ivr_yml] + "\nlimits: [unclosed\n")
            save(handoff_yml, originals[handoff_yml].replace("skills:", "skills: {", 1))
            await asyncio.sleep(1.2)  # files are looked at again when next needed, at most once a second
            await call.press("0")
            await call.wait_mark("agent", 20)
            queue = HandoffQueue(redis, rules=load_rules(settings.root / "content" / "handoff.yml"))
            waiting = await queue.position(f"ivr:{call.stream_sid}")
            assert waiting is not None and waiting.position >= 1, "the caller was queued on the last good rules"
            await call.hangup()
    finally:
        for path, text in originals.items():
            save(path, text)
        await redis.close()
    log = (settings.data_dir / "logs" / "rasa.log").read_text(encoding="utf-8", errors="replace")
    assert "editor_file.rejected" in log and str(ivr_yml) in log and str(handoff_yml) in log
