"""A fresh Rasa worker's first parse is slow: warm it up before the worker reports healthy.

Measured on the shared 2-core test machine (a freshly loaded model): the first
``agent.parse_message`` took 2.2 s, the next ones 0.01-0.03 s (TensorFlow builds its graphs and
jieba loads its dictionary on first use); a policy prediction after that took 0.01 s. On the
test stack (one worker), the first WeChat turn after the server answered took 3.2 s, later ones
0.05-0.12 s; with this warm-up the first took 0.7 s. On a cold worker this cost fell into a
follower's first WeChat turn, which WeChat gives 5 s.
The warm-up parses one fixed text (never said to anyone, never saved in a tracker) when the
server has started, and ``/health`` answers 503 until it is done (``bot.channels.ops``). A hot-swapped
model is warmed the same way, in the thread that loaded it, before it serves (``bot.swap_off_loop``).
"""
from __future__ import annotations

import asyncio
import logging
import time

logger = logging.getLogger(__name__)

WARM_UP_TEXT = "你好"  # input to the NLU pipeline only; nobody sees it


async def warm_up(app) -> float | None:
    """Seconds the first parse took, or None when there is no model to warm (or it failed)."""
    agent = getattr(app.ctx, "agent", None)
    if agent is None or not agent.is_ready():
        return None
    return await warm_agent(agent, "worker.warmed_up")


def warm_in_thread(agent) -> float | None:
    """The same first parse in the calling thread, on an event loop of its own: a hot swap warms its new
    model there (bot/swap_off_loop.py), so no customer's turn pays for it on the worker's loop."""
    return asyncio.run(warm_agent(agent, "model.swap.warmed_up"))


async def warm_agent(agent, event: str) -> float | None:
    started = time.monotonic()
    try:
        await agent.parse_message(WARM_UP_TEXT)
    except Exception as error:  # noqa: BLE001 - a failed warm-up must not stop the server; turns still work
        logger.warning("worker.warm_up_failed error=%s", type(error).__name__)
        return None
    seconds = time.monotonic() - started
    logger.info("%s seconds=%.2f", event, seconds)
    return seconds
