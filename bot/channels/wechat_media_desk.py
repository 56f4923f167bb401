"""The desk's route to a picture or video a WeChat follower sent while an agent served them.

A follower's photo (of the modem's lights, the TV's error screen) is what an agent asks for, and
WeChat keeps it behind its media API: the access token never leaves the server, so the desk asks
Kefu, which fetches it with media/get (获取临时素材) and passes the picture through, or sends the
agent on to the download address WeChat gives for a video. Only the agent holding the conversation
(``Desk.packet``) may open it, and only media that conversation names (``MEDIA_ID_KEY`` in a
customer turn's metadata), so a media id from another follower opens nothing. Each opening is
recorded (``customer_media_opened``: who, which), as playing a recording is.

Added to the app by ``agent_desk.DeskBlueprint`` and guarded by its ``signed_in``.
"""
from __future__ import annotations

import asyncio
import json
import logging

import aiohttp
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.agent_desk import signed_in
from bot.channels.guard import ChannelGuard
from bot.channels.wechat_api import WeChatApi, WeChatApiError
from bot.channels.wechat_followers import MEDIA_ID_KEY, from_wechat
from bot.handoff.desk import Desk
from bot.outcomes import record
from bot.settings import get_settings

logger = logging.getLogger(__name__)

# What is passed through as it is; anything else WeChat answers with is offered as a download.
SHOWN_TYPES = {"image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp", "video/mp4"}


def media_ids(events: list[dict]) -> set[str]:
    """The pictures and videos a conversation's customer turns name: the only ones its agent may open."""
    return {str((e.get("metadata") or {}).get(MEDIA_ID_KEY)) for e in events
            if e.get("event") == "user" and from_wechat(e) and (e.get("metadata") or {}).get(MEDIA_ID_KEY)}


def wechat_api(app: Sanic) -> WeChatApi | None:
    """One WeChat API client per process; its access token is shared with the channel's through Redis."""
    if not hasattr(app.ctx, "kefu_wechat_media_api"):
        settings = get_settings()
        configured = settings.wechat_token and settings.wechat_app_id and settings.wechat_app_secret
        app.ctx.kefu_wechat_media_api = WeChatApi(
            settings.wechat_api_base_url, settings.wechat_app_id, settings.wechat_app_secret,
            ChannelGuard(settings.redis.url, "kefu:wechat")) if configured else None
    return app.ctx.kefu_wechat_media_api


def unavailable() -> HTTPResponse:
    """The desk's ``error_media`` as a page: the agent opened the link in a tab of its own."""
    strings = json.loads((get_settings().content_dir / "ui" / "agent_desk.zh.json").read_text(encoding="utf-8"))
    return response.text(strings.get("error_media", "error_media"), status=404,
                         headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


@signed_in
async def follower_media(request: Request, desk: Desk, agent: dict, conversation_id: str,
                         media_id: str) -> HTTPResponse:
    await desk.packet(agent["agent_id"], conversation_id)  # only the agent holding the conversation
    api = wechat_api(request.app)
    if api is None or media_id not in media_ids(await desk.conversations.events(conversation_id)):
        return unavailable()
    try:
        media = await api.fetch_media(media_id)
    except (WeChatApiError, OSError, asyncio.TimeoutError, aiohttp.ClientError) as error:
        # 40007: WeChat keeps a follower's media for three days only.
        logger.warning("wechat.media.unavailable conversation=%s errcode=%s error=%s", conversation_id,
                       getattr(error, "errcode", None), str(error) or type(error).__name__)
        return unavailable()
    # A customer's photo is personal data: who opened which, like a played recording.
    await record(conversation_id, "customer_media_opened", database_url=desk.repository.url, media_id=media_id,
                 kind="video" if media.url else media.content_type, agent_id=agent["agent_id"])
    headers = {"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"}
    if media.url:
        return response.redirect(media.url, headers=headers)
    content_type = media.content_type if media.content_type in SHOWN_TYPES else "application/octet-stream"
    disposition = "inline" if content_type in SHOWN_TYPES else "attachment"
    return response.raw(media.data, content_type=content_type,
                        headers={**headers, "Content-Disposition": disposition})


ROUTES = [
    ("/agent/api/conversations/<conversation_id:str>/wechat_media/<media_id:str>", follower_media, ["GET"]),
]
