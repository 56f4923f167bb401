"""Warming the phone channel at server start, so the first caller does not wait for it.

Found by a phone tester: the first call after start-up waited ~7.8 s before the greeting, because
everything a call needs was made on first use: the call runtime (Redis, database, call lines), the
speech recogniser's model, the speech synthesiser (espeak-ng starts on its first request) and the
greeting's audio. The channel now does this in the background once the server is up (``kefu run``
does not wait for it: the server answers as before), and a call arriving meanwhile waits only for
what is still loading.
"""
from __future__ import annotations

import asyncio
import logging
import time

from bot.ivr.hold_audio import hold_frames
from bot.ivr.matching import fill
from bot.ivr.playback import sentences
from voice.pcm import PHONE_RATE

logger = logging.getLogger(__name__)

GREETING_NODES = 4  # the first prompts of the default flow, up to its first question


async def warm_runtime(runtime) -> dict[str, float]:
    """Start the synthesiser, make the greeting's audio and open the database; seconds per part."""
    timings: dict[str, float] = {}

    async def timed(name: str, step) -> None:
        started = time.monotonic()
        await step
        timings[name] = round(time.monotonic() - started, 2)

    await timed("tts_engine", runtime.player.tts.warm())
    await timed("greeting", _greeting(runtime))
    await timed("line_busy", _line_busy(runtime))
    await timed("database", asyncio.to_thread(runtime.services.records.repository.find_customer, phone="10000000000"))
    hotline = runtime.services.hotline.get()
    if hotline.hold_audio:
        await timed("hold_audio", asyncio.to_thread(hold_frames, hotline.hold_audio))
    return timings


async def _greeting(runtime) -> None:
    """The audio of the default flow's opening prompts (cached on disk by the synthesiser)."""
    services = runtime.services
    flow = await services.registry.current(services.hotline.get().default_flow)
    node_id = flow.start
    for _ in range(GREETING_NODES):
        node = flow.node(node_id)
        if node.say:
            await runtime.player.audio(flow.prompt_id(node), fill(node.say, {}), PHONE_RATE)
        if node.kind != "play" or not node.next:
            return
        node_id = node.next


async def _line_busy(runtime) -> None:
    """The audio of ``prompts.line_busy``, sentence by sentence as the call's playback asks for it: a caller
    ended to make room hears it for at most ``BUSY_PROMPT_MAX_S`` (bot/ivr/session.py), synthesis included."""
    for sentence in sentences(runtime.services.hotline.get().prompt("line_busy").strip()):
        await runtime.player.tts.synthesize(sentence, PHONE_RATE)
