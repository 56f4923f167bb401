"""A loopback SMS gateway and WeChat API (access token, template send) whose answer a test sets, to see
what the contact worker and the outbox do with each kind of failure; and the adapters pointed at it."""
from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from bot.channels.guard import ChannelGuard
from bot.channels.wechat_api import WeChatApi
from bot.embedded_redis import free_port
from bot.outbound.sms import SmsGateway
from bot.outbound.wechat_template import WeChatTemplateSender
from tests.sms_loopback import serving

PHONE = "13900000077"  # nobody in the demo data: only this test's contact texts it
OPENID = "openid-text-failures"
NOTHING_LISTENS = "nothing listens"
NOTHING_LISTENS_PORT = free_port()
ADDRESS = {"sms": f"phone:{PHONE}", "wechat": f"wechat:{OPENID}"}


class TextChannels:
    """A loopback SMS gateway and WeChat API (access token, template send) answering as ``answer`` says:
    ``"ok"``, ``("http", status)``, ``("sms", code)``, ``("wechat", errcode)``, ``("stale then", errcode)``
    (the first token is refused as expired, the fresh one gets ``errcode``), ``"token refused"`` (WeChat
    will not give Kefu an access token), ``"slow"`` (no answer until the test ends) or ``"hang up"`` (the
    connection is closed once the request is in). ``before_answer``, when set, is awaited with the msgid of
    a template message WeChat takes before its answer goes back (WeChat's delivery report overtaking it)."""

    def __init__(self) -> None:
        self.answer: object = "ok"
        self.received: list[dict] = []  # every send's body, whatever it was answered
        self.tokens = 0
        self.ending = asyncio.Event()
        self.before_answer = None

    def to(self, channel: str) -> list[dict]:
        """What the channel received for this test's customer."""
        key, value = ("to", f"+86{PHONE}") if channel == "sms" else ("touser", OPENID)
        return [m for m in self.received if m.get(key) == value]

    async def sms(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.received.append(body)
        return await self._answer(request, lambda code: {"code": code, "message": "refused"},
                                  {"code": 0, "message_id": body["client_ref"]})

    async def template(self, request: web.Request) -> web.StreamResponse:
        self.received.append({**await request.json(), "token": request.query["access_token"]})
        if isinstance(self.answer, tuple) and self.answer[0] == "stale then" and request.query["access_token"] == "token-1":
            return web.json_response({"errcode": 40001, "errmsg": "invalid credential"})
        if self.before_answer is not None and self.answer == "ok":
            await self.before_answer(len(self.received))
        return await self._answer(request, lambda code: {"errcode": code, "errmsg": "refused"},
                                  {"errcode": 0, "errmsg": "ok", "msgid": len(self.received)})

    async def token(self, request: web.Request) -> web.Response:
        if self.answer == "token refused":
            return web.json_response({"errcode": 40125, "errmsg": "invalid appsecret"})
        self.tokens += 1
        return web.json_response({"access_token": f"token-{self.tokens}", "expires_in": 7200})

    async def _answer(self, request: web.Request, refusal, ok: dict) -> web.StreamResponse:
        answer = self.answer
        if answer == "slow":
            await self.ending.wait()
        elif answer == "hang up":
            request.transport.close()
        elif isinstance(answer, tuple) and answer[0] == "http":
            return web.json_response({"message": "no"}, status=answer[1])
        elif isinstance(answer, tuple):
            return web.json_response(refusal(answer[1]))
        return web.json_response(ok)


@pytest.fixture
async def text_channels():
    """Yields (the loopback's state, its base URL)."""
    channels = TextChannels()
    app = web.Application()
    app.router.add_post("/v1/sms/send", channels.sms)
    app.router.add_post("/cgi-bin/message/template/send", channels.template)
    app.router.add_get("/cgi-bin/token", channels.token)
    async with serving(app) as url:
        yield channels, url
        channels.ending.set()


@pytest.fixture
async def messenger():
    """Makes the adapter for a channel at a URL (``timeout_s``: how long it waits for an answer; short
    for a ``"slow"`` channel). WeChat's access token comes from the URL too, unless nothing listens
    there: then one is cached, so the send is what fails."""
    apis: list[WeChatApi] = []

    async def make(channel: str, url: str, timeout_s: float = 10.0):
        if channel == "sms":
            return SmsGateway(url, "key", "Kefu", timeout_s=timeout_s)
        api = WeChatApi(url, "app-id", "app-secret", ChannelGuard(None, "kefu:test-text-failures"))
        apis.append(api)
        if url.endswith(f":{NOTHING_LISTENS_PORT}"):
            await api.guard.put("token:app-id", "token-cached", 3600)
        return WeChatTemplateSender(api, "TPL-CARE", timeout_s=timeout_s)

    yield make
    for api in apis:
        await api.close()
