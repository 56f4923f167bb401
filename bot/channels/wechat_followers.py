"""A follower who unsubscribes from the official account has left.

WeChat refuses every customer-service message to them from then on, so Kefu does what it does
when a caller hangs up: the conversation leaves the queue (or the agent serving it sees the
customer left, ``HandoffQueue.abandon``), the bot takes the conversation back, and the openid's
binding to a verified customer is dropped, so following again means verifying again.

Analytics: the queue records ``handoff_abandoned`` (waiting) or ``handoff_customer_left``
(being served) with reason ``wechat_unsubscribed``; leaving the queue unanswered this way
counts as abandonment, as a hang-up does (``bot.analytics.contacts``).
"""
from __future__ import annotations

import asyncio
import logging

from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from bot.db.repository import DatabaseError
from bot.settings import Settings

logger = logging.getLogger(__name__)

REASON = "wechat_unsubscribed"


async def follower_left(settings: Settings, app, openid: str) -> None:
    await _leave_queue(settings, openid)
    agent = getattr(app.ctx, "agent", None)
    if agent is not None and getattr(agent, "tracker_store", None) is not None:
        from bot.handoff.conversations import RasaConversations

        await RasaConversations(app).unpause(openid)
    try:
        from bot.security.credentials import CredentialStore

        unbound = await asyncio.to_thread(lambda: CredentialStore(settings.database_url).unbind("wechat", openid))
    except (DatabaseError, SQLAlchemyError) as error:
        logger.error("wechat.unsubscribe.unbind_failed sender=%s error=%s", openid, type(error).__name__)
        unbound = False
    logger.info("wechat.follower.unsubscribed sender=%s unbound=%s", openid, unbound)


async def _leave_queue(settings: Settings, openid: str) -> None:
    if not settings.redis.url:
        return
    import redis.asyncio as redis

    from bot.handoff.queue import HandoffQueue
    from bot.redis_reconnect import reconnecting

    client = redis.from_url(settings.redis.url, **reconnecting())
    try:
        await HandoffQueue(client).abandon(openid, REASON)
    except (RedisError, OSError) as error:  # the entry expires with the queue's own TTLs
        logger.warning("wechat.unsubscribe.queue_failed sender=%s error=%s", openid, type(error).__name__)
    finally:
        await client.close()


def media_turn(menu: dict, kind: str, fields: dict[str, str]) -> tuple[str, dict]:
    """The follower's turn for a picture or location sent while a person serves them: the text
    the desk shows (``with_agent`` in ``content/wechat_menu.yml``) and metadata with the picture's
    address, so the agent can open it (WeChat's PicUrl; only http(s) addresses are kept)."""
    template = str((menu.get("with_agent") or {}).get(kind) or "")
    if kind == "location":
        values = {"label": fields.get("Label") or "", "x": fields.get("Location_X") or "",
                  "y": fields.get("Location_Y") or ""}
        return template.format(**values).strip(), {"wechat_location": values}
    url = (fields.get("PicUrl") or "").strip()
    extra = {"wechat_pic_url": url} if url.startswith(("https://", "http://")) else {}
    return template, extra
