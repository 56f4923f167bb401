"""WeChat official-account template messages: ``POST /cgi-bin/message/template/send``.

Request (WeChat's documented API): ``?access_token=…`` and
``{"touser": openid, "template_id": id, "url": link, "data": {"first": {"value"}, "keyword1":
{"value"}, "keyword2": {"value"}, "remark": {"value"}}}`` — or, when the message brings its own
``template_data`` (the contacts' per-purpose field layout from content/contacts.yml, e.g.
``thing1``/``amount2``), that ``data`` as it is; answer ``{"errcode": 0, "errmsg":
"ok", "msgid": …}``. An expired token (40001/42001/40014) is refreshed once and the send retried.
The access token comes from :class:`bot.channels.wechat_api.WeChatApi` (cached in Redis).

Failures are told apart as the SMS gateway's are (``bot/notify.py``): surely nothing sent — no access
token to be had, WeChat not connectable, "system busy" (-1), the API's daily limit (45009), a token
still refused after the refresh, HTTP 401/403/429/5xx; maybe sent — a timeout or a connection broken
once the request was on its way; refused for good — any other errcode (43004 the follower has
unsubscribed, 40003 not an openid of this account).
"""
from __future__ import annotations

import asyncio
import logging

import aiohttp
from redis.exceptions import RedisError

from bot.channels.wechat_api import WeChatApiError
from bot.notify import Notifier, NotifyError, Refused, Unreachable, nothing_taken, render_selfhelp
from bot.outbound import wechat_delivery as delivery
from bot.outbound.posting import post_json
from bot.selfhelp import public

logger = logging.getLogger(__name__)

STALE_TOKEN = {40001, 40014, 42001}
BUSY = {-1, 45009}  # "system busy", "reached max api daily quota limit": nothing sent, worth trying later
# About Kefu's own account or settings, not the follower: not an AppID of WeChat's (40013), not a template
# of this account (40037), Kefu's server not on the account's IP whitelist (40164), the API not granted to
# the account (48001). Nothing was sent and the operator puts it right: the messages wait for that rather
# than end as refused by the customer's channel (found in review).
KEFU_SIDE = {40013, 40037, 40164, 48001}


class WeChatTemplateSender(Notifier):
    def __init__(self, api, template_id: str, *, timeout_s: float = 10.0, selfhelp_templates: dict | None = None):
        if not template_id:
            raise NotifyError("WeChat template messages need a template id (WECHAT_TEMPLATE_ID)")
        self.api = api  # has base_url and async access_token(refresh=False, stale=None)
        self.template_id = template_id
        self.timeout_s = timeout_s
        self.selfhelp_templates = selfhelp_templates or {}

    async def send(self, to: str, message: dict) -> None:
        """``to`` is the follower's openid; ``message`` has ``text`` and optional ``title``/``links``/``url``
        (or ``link``)/``label`` (what the customer sees the message called; never an internal code such as its kind),
        or ``template_data`` with every field filled in."""
        links = message.get("links") or []
        body = {
            "touser": to,
            "template_id": self.template_id,
            # ``link`` is the outbox's self-help payload's name for the page (bot/notify.py)
            "url": links[0]["url"] if links else message.get("url") or message.get("link", ""),
            "data": message.get("template_data") or {
                "first": {"value": message.get("title", "")},
                "keyword1": {"value": message.get("text", "")},
                "keyword2": {"value": message.get("label", "")},
                "remark": {"value": message.get("remark", "")},
            },
        }
        guard = getattr(self.api, "guard", None)
        key = delivery.sent_key(str(message["client_ref"]), body) if message.get("client_ref") and guard else None
        if key and await self._sent_before(guard, key, to):
            return
        try:
            errcode, token, msgid = await self._post(body)
            if errcode in STALE_TOKEN:
                errcode, _, msgid = await self._post(body, stale=token)
        except NotifyError as exc:
            if key and (exc.sent_nothing or not exc.transient):
                await self._guarded(delivery.handed_over(guard, key, sent=False))
            raise
        if key:
            await self._guarded(delivery.handed_over(guard, key, sent=errcode == 0, msgid=msgid,
                                                     ref=str(message["client_ref"])))
        if errcode != 0:
            raise Refused(f"WeChat refused the template message (errcode={errcode})", 200,
                          sent_nothing=errcode in BUSY | STALE_TOKEN | KEFU_SIDE)

    async def _sent_before(self, guard, key: str, to: str) -> bool:
        """Whether this message, under its ``client_ref``, went out already, by WeChat's delivery report
        (bot/outbound/wechat_delivery.py); else it is recorded as being handed over now. ``Refused`` when
        the report says the follower refuses the account's template messages."""
        try:
            earlier = await delivery.earlier_send(guard, key)
            if earlier is None:
                await delivery.handing_over(guard, key, to)
        except (RedisError, OSError, ValueError, KeyError) as exc:
            raise Unreachable(f"WeChat template record unavailable: {exc or type(exc).__name__}",
                              sent_nothing=True) from exc
        if earlier == delivery.REFUSED_BY_FOLLOWER:
            raise Refused("WeChat reported the follower refuses the account's template messages", 200)
        if earlier == delivery.DELIVERED:
            logger.info("notify.wechat_template.delivered_before to=%s", to)
            return True
        return False

    async def reported_not_delivered(self, client_ref: str) -> str | None:
        """WeChat's report that the message sent under ``client_ref`` was not delivered, come before the
        send was recorded (bot/outbound/wechat_delivery.py); None when Redis cannot say (logged)."""
        guard = getattr(self.api, "guard", None)
        if guard is None:
            return None
        try:
            return await delivery.take_not_delivered(guard, client_ref)
        except (RedisError, OSError) as exc:
            logger.warning("notify.wechat_template.report_unread ref=%s error=%s", client_ref, type(exc).__name__)
            return None

    @staticmethod
    async def _guarded(write) -> None:
        """A record after WeChat answered: failing, it is not worth failing the send for."""
        try:
            await write
        except (RedisError, OSError) as exc:
            logger.warning("notify.wechat_template.record_failed error=%s", type(exc).__name__)

    async def _post(self, body: dict, stale: str | None = None) -> tuple[int | None, str, object]:
        """WeChat's errcode, the token sent and WeChat's msgid; ``stale``: the token refused, to be replaced."""
        try:
            token = await (self.api.access_token(refresh=True, stale=stale) if stale else self.api.access_token())
        except (WeChatApiError, aiohttp.ClientError, asyncio.TimeoutError, RedisError) as exc:
            raise Unreachable(f"WeChat access token unavailable: {exc or type(exc).__name__}",
                              sent_nothing=True) from exc
        status, reply = await post_json(f"{self.api.base_url}/cgi-bin/message/template/send", api="WeChat API",
                                        timeout_s=self.timeout_s, params={"access_token": token}, json=body)
        if status != 200 or not isinstance(reply, dict):
            raise Refused(f"WeChat refused the template message: HTTP {status}", status,
                          sent_nothing=nothing_taken(status))
        errcode = reply.get("errcode")
        if errcode == 0:
            logger.info("notify.wechat_template.sent msgid=%s", reply.get("msgid"))
        return errcode, token, reply.get("msgid")

    async def send_selfhelp(self, to: str, channel: str, entry, *, voice_message_id: str | None = None) -> None:
        await self.send(to, {"text": render_selfhelp(entry, self.selfhelp_templates), "title": entry.title,
                             "url": public(entry.page())})


def sends_wechat_templates(settings) -> bool:
    """Whether this deployment has a WeChat account and a template to send outside a conversation."""
    return bool(settings.wechat_template_id and settings.wechat_app_id and settings.wechat_app_secret)


def wechat_sender(settings, redis_url: str = "") -> WeChatTemplateSender | None:
    """The account's template sender (None without the settings); its access token is the channel's,
    cached in the Redis at ``redis_url`` (else ``REDIS_URL``)."""
    if not sends_wechat_templates(settings):
        return None
    from bot.channels.guard import ChannelGuard
    from bot.channels.wechat_api import WeChatApi

    api = WeChatApi(settings.wechat_api_base_url, settings.wechat_app_id, settings.wechat_app_secret,
                    ChannelGuard(redis_url or None, "kefu:wechat"))
    return WeChatTemplateSender(api, settings.wechat_template_id)
