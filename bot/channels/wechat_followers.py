"""A follower who unsubscribes from the official account has left.

WeChat refuses every customer-service message to them from then on, so Kefu does what it does
when a caller hangs up: the conversation leaves the queue (or the agent serving it sees the
customer left, ``HandoffQueue.abandon``), the bot takes the conversation back, and the openid's
binding to a verified customer is dropped, with the proof given in the conversation's session, so
following again means verifying again. An opt-out
(TD) or do-not-disturb on the account reached the customer's numbers through that binding: it is put
on them first (``bot.contacts.optout.block_stays_with_customer``), so the calls and texts stay stopped.

Analytics: the queue records ``handoff_abandoned`` (waiting, or claimed but not yet told an agent joined) or
``handoff_customer_left`` (being served) with reason ``wechat_unsubscribed``; leaving the queue unanswered this way
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
    """Each step on its own: one store failing (the tracker's Redis, say) must not leave the binding. The
    conversation comes first, waiting for a turn of theirs under way, then the queue and the binding: a turn
    checking their code as they unfollowed bound the account after the binding was dropped, and one
    handing them to a person queued them after they had left the queue (found in review)."""
    unbound = False
    try:
        await _conversation_left(app, openid)
    finally:
        await _leave_queue(settings, openid)
        try:
            unbound = await asyncio.to_thread(_unbind, settings.database_url, openid)
        except (DatabaseError, SQLAlchemyError) as error:
            logger.error("wechat.unsubscribe.unbind_failed sender=%s error=%s", openid, type(error).__name__)
    logger.info("wechat.follower.unsubscribed sender=%s unbound=%s", openid, unbound)


async def _conversation_left(app, openid: str) -> None:
    """The bot has the conversation back, and the proof given in its session no longer holds: with the
    binding gone, following again within the session meant being verified still (found in review)."""
    agent = getattr(app.ctx, "agent", None)
    if agent is None or getattr(agent, "tracker_store", None) is None:
        return
    from rasa.core.lock_store import LockError

    from bot.handoff.conversations import RasaConversations

    conversations = RasaConversations(app)
    try:
        await conversations.withdraw_proof(openid)  # first: it waits for a turn under way (the lock)
        await conversations.unpause(openid)
    except (RedisError, OSError, LockError) as error:  # the session ends within the hour, and its proof with it
        logger.error("wechat.unsubscribe.conversation_failed sender=%s error=%s", openid, type(error).__name__)


def _unbind(database_url: str, openid: str) -> bool:
    """Drop the openid's binding; an opt-out (TD) or do-not-disturb on the account, which reached the
    customer's numbers through the binding, stays on them."""
    from bot.contacts.optout import block_stays_with_customer
    from bot.security.credentials import CredentialStore

    store = CredentialStore(database_url)
    customer_id = store.bound_customer("wechat", openid)
    if customer_id is not None:
        block_stays_with_customer(database_url, f"wechat:{openid}", customer_id, via=REASON)
    return store.unbind("wechat", openid)


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


# What a follower may send that the bot has no words for: while a person serves them, each becomes
# a turn of the conversation the agent reads (``with_agent`` in ``content/wechat_menu.yml``).
MEDIA_KINDS = ("image", "location", "link", "video", "shortvideo")
# The metadata key naming a picture or video the agent may open through WeChat's media API
# (``bot.channels.wechat_media_desk``): only media a conversation names can be fetched from it.
MEDIA_ID_KEY = "wechat_media_id"
# What each ``with_agent`` wording may name (the others are shown as written).
MEDIA_VALUES = {"location": ("label", "x", "y"), "link": ("title", "url", "description")}


def from_wechat(event: dict) -> bool:
    """A customer turn the WeChat channel took (its ``input_channel``): only there do its metadata keys mean
    a follower's picture or media. Any REST client may write the same keys (found in review)."""
    return event.get("input_channel") == "wechat"


def filled(template: str, values: dict[str, str]) -> str:
    """An editor's ``with_agent`` wording with the place's or link's details in. One naming something else
    (``kefu validate`` says so) is not filled: the desk shows it as written, with the details after it
    (it used to fail the turn: the follower was told so, and the agent never got the place)."""
    try:
        return template.format(**values).strip()
    except (KeyError, IndexError, ValueError, AttributeError, TypeError) as exc:
        logger.warning("wechat.with_agent.unfilled error=%r", exc)
        return " ".join([template.strip(), *(value for value in values.values() if value)])


def media_turn(menu: dict, kind: str, fields: dict[str, str]) -> tuple[str, dict]:
    """The follower's turn for a picture, place, link or video sent while a person serves them: the
    text the desk shows and metadata for opening it (WeChat's PicUrl for a picture, only http(s)
    addresses kept; the MediaId of a picture or video, fetched through WeChat's media API)."""
    template = str((menu.get("with_agent") or {}).get(kind) or "")
    if kind == "location":
        values = {"label": fields.get("Label") or "", "x": fields.get("Location_X") or "",
                  "y": fields.get("Location_Y") or ""}
        return filled(template, values), {"wechat_location": values}
    if kind == "link":
        values = {"title": (fields.get("Title") or "").strip(), "url": (fields.get("Url") or "").strip(),
                  "description": (fields.get("Description") or "").strip()}
        return filled(template, values), {"wechat_link": values}
    extra: dict = {}
    media_id = (fields.get("MediaId") or "").strip()
    if media_id:
        extra[MEDIA_ID_KEY] = media_id
    url = (fields.get("PicUrl") or "").strip()
    if url.startswith(("https://", "http://")):
        extra["wechat_pic_url"] = url
    return template, extra
