"""WeChat official-account template messages: ``POST /cgi-bin/message/template/send``.

Request (WeChat's documented API): ``?access_token=…`` and
``{"touser": openid, "template_id": id, "url": link, "data": {"first": {"value"}, "keyword1":
{"value"}, "keyword2": {"value"}, "remark": {"value"}}}`` — or, when the message brings its own
``template_data`` (the contacts' per-purpose field layout from content/contacts.yml, e.g.
``thing1``/``amount2``), that ``data`` as it is; answer ``{"errcode": 0, "errmsg":
"ok", "msgid": …}``. An expired token (40001/42001/40014) is refreshed once and the send retried.
The access token comes from :class:`bot.channels.wechat_api.WeChatApi` (cached in Redis).
"""
from __future__ import annotations

import asyncio
import logging

import aiohttp

from bot.notify import Notifier, NotifyError, render_selfhelp
from bot.selfhelp import public

logger = logging.getLogger(__name__)

STALE_TOKEN = {40001, 40014, 42001}


class WeChatTemplateSender(Notifier):
    def __init__(self, api, template_id: str, *, timeout_s: float = 10.0, selfhelp_templates: dict | None = None):
        if not template_id:
            raise NotifyError("WeChat template messages need a template id (WECHAT_TEMPLATE_ID)")
        self.api = api  # has base_url and async access_token(refresh=False, stale=None)
        self.template_id = template_id
        self.timeout_s = timeout_s
        self.selfhelp_templates = selfhelp_templates or {}

    async def send(self, to: str, message: dict) -> None:
        """``to`` is the follower's openid; ``message`` has ``text`` and optional ``title``/``links``/
        ``label`` (what the customer sees the message called; never an internal code such as its kind),
        or ``template_data`` with every field filled in."""
        links = message.get("links") or []
        body = {
            "touser": to,
            "template_id": self.template_id,
            "url": links[0]["url"] if links else message.get("url", ""),
            "data": message.get("template_data") or {
                "first": {"value": message.get("title", "")},
                "keyword1": {"value": message.get("text", "")},
                "keyword2": {"value": message.get("label", "")},
                "remark": {"value": message.get("remark", "")},
            },
        }
        errcode, token = await self._post(body)
        if errcode in STALE_TOKEN:
            errcode, _ = await self._post(body, stale=token)
        if errcode != 0:
            raise NotifyError(f"WeChat refused the template message (errcode={errcode})")

    async def _post(self, body: dict, stale: str | None = None) -> tuple[int | None, str]:
        """WeChat's errcode and the token sent; ``stale``: the token refused, to be replaced."""
        try:
            token = await (self.api.access_token(refresh=True, stale=stale) if stale else self.api.access_token())
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout_s)) as http:
                async with http.post(f"{self.api.base_url}/cgi-bin/message/template/send",
                                     params={"access_token": token}, json=body) as answer:
                    reply = await answer.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            raise NotifyError(f"WeChat API unreachable: {type(exc).__name__}") from exc
        except Exception as exc:  # the token call's own error type
            raise NotifyError(f"WeChat access token unavailable: {exc}") from exc
        errcode = reply.get("errcode") if isinstance(reply, dict) else None
        if errcode == 0:
            logger.info("notify.wechat_template.sent msgid=%s", reply.get("msgid"))
        return errcode, token

    async def send_selfhelp(self, to: str, channel: str, entry) -> None:
        await self.send(to, {"text": render_selfhelp(entry, self.selfhelp_templates), "title": entry.title,
                             "url": public(entry.page())})
