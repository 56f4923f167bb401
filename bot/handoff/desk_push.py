"""Customer messages pushed to the agent desk as they arrive, across processes.

Every Rasa worker wraps its tracker store's ``save``: when a *paused* conversation (one in the
handoff: waiting or with an agent) is saved, a notice goes to the Redis pub/sub channel of
that conversation in this deployment (``kefu:desk:changed:db<N>:<id>``, ``bot.redis_channels``).
The desk's event stream (``/agent/api/conversations/<id>/stream``, server-sent events) in whichever
worker holds the agent's browser subscribes to it and sends the new turns at once — no per-second
polling, and only handed-off conversations publish anything.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

import redis.asyncio as redis
from redis.exceptions import RedisError

from bot.redis_channels import deployment_channel

logger = logging.getLogger(__name__)

INSTALL_CHECK_S = 5.0
CHANGES_BASE = "kefu:desk:changed"


def changes_channel(conversation_id: str, redis_client: Any) -> str:
    """The conversation's channel in the deployment whose Redis ``redis_client`` is (its publishers and the
    desk's stream use the same client's database)."""
    return f"{deployment_channel(CHANGES_BASE, redis_client)}:{conversation_id}"


async def desk_changed(client: Any, conversation_id: str) -> None:
    """Wake the desk's open stream of the conversation for a change no tracker save announces: the customer left
    while an agent had them (their conversation is handed back unpaused, so its save publishes nothing), and the
    stream tells the page at once that it ended instead of at its next keep-alive. A lost notice is logged: the
    keep-alive finds the end all the same."""
    try:
        await client.publish(changes_channel(conversation_id, client), "1")
    except (RedisError, OSError):
        logger.warning("handoff.desk_push.publish_failed conversation=%s", conversation_id)


def publish_paused_saves(store: Any, client: redis.Redis) -> None:
    """Wrap ``store.save`` once; a lost notice is logged, never breaks the save."""
    if getattr(store, "_kefu_desk_push", False):
        return
    original = store.save

    async def save(tracker: Any, *args: Any, **kwargs: Any) -> Any:
        result = await original(tracker, *args, **kwargs)
        if tracker.is_paused():
            try:
                await client.publish(changes_channel(tracker.sender_id, client), "1")
            except (RedisError, OSError):
                logger.warning("handoff.desk_push.publish_failed conversation=%s", tracker.sender_id)
        return result

    store.save = save
    store._kefu_desk_push = True


async def keep_installed(app: Any, client: redis.Redis) -> None:
    """Install on the agent's tracker store, and again whenever a model reload brings a new one."""
    while True:
        agent = getattr(app.ctx, "agent", None)
        for store in {id(s): s for s in (getattr(agent, "tracker_store", None),
                                         getattr(getattr(agent, "processor", None), "tracker_store", None))
                      if s is not None}.values():
            publish_paused_saves(store, client)
        await asyncio.sleep(INSTALL_CHECK_S)
