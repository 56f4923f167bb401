"""SMS gateway and WeChat template adapters against loopback servers; the outbox worker."""
from __future__ import annotations

import pytest
from aiohttp import web

from bot.notify import NotifyError
from bot.outbound.sms import SmsGateway
from bot.outbound.wechat_template import WeChatTemplateSender
from bot.outbound.worker import deliver_pending


@pytest.fixture
async def loopback():
    """An aiohttp server on a free port; yields (received requests, base URL, app router)."""
    received: list[dict] = []
    app = web.Application()
    runner = web.AppRunner(app)

    async def start(routes):
        for method, path, handler in routes:
            app.router.add_route(method, path, handler)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"

    yield received, start
    await runner.cleanup()


async def test_sms_gateway_sends_json_with_bearer_key(loopback):
    received, start = loopback

    async def send(request):
        received.append({"auth": request.headers.get("Authorization"), "body": await request.json()})
        return web.json_response({"code": 0, "message_id": "m1"})

    base = await start([("POST", "/v1/sms/send", send)])
    await SmsGateway(base, "k3y", "Kefu").send("+8613800000001", {"text": "指引：http://x/v.mp4"})
    assert received == [{"auth": "Bearer k3y", "body": {"to": "+8613800000001", "sender": "Kefu",
                                                        "text": "指引：http://x/v.mp4",
                                                        "client_ref": received[0]["body"]["client_ref"]}}]


async def test_sms_gateway_refusals_are_notify_errors(loopback):
    received, start = loopback

    async def refuse(request):
        return web.json_response({"code": 1002, "message": "content rejected"})

    base = await start([("POST", "/v1/sms/send", refuse)])
    gateway = SmsGateway(base, "k3y", "Kefu")
    with pytest.raises(NotifyError, match="code 1002") as refused:
        await gateway.send("13800000001", {"text": "hi"})
    assert not refused.value.transient  # the gateway will not take it later either
    with pytest.raises(NotifyError, match="mainland mobile") as bad_number:
        await gateway.send("12345", {"text": "hi"})
    assert not bad_number.value.transient
    with pytest.raises(NotifyError, match="unreachable") as unreachable:
        await SmsGateway("http://127.0.0.1:9", "k", "Kefu").send("13800000001", {"text": "hi"})
    assert unreachable.value.transient


class _Tokens:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.refreshed = 0

    async def access_token(self, *, refresh: bool = False, stale: str | None = None) -> str:
        self.refreshed += refresh
        return "fresh" if refresh else "stale"


async def test_wechat_template_refreshes_a_stale_token(loopback):
    received, start = loopback

    async def send(request):
        received.append({"token": request.query["access_token"], "body": await request.json()})
        if request.query["access_token"] == "stale":
            return web.json_response({"errcode": 40001, "errmsg": "invalid credential"})
        return web.json_response({"errcode": 0, "errmsg": "ok", "msgid": 7})

    base = await start([("POST", "/cgi-bin/message/template/send", send)])
    tokens = _Tokens(base)
    await WeChatTemplateSender(tokens, "TPL1").send("openid-1", {
        "text": "重启光猫", "title": "指引", "links": [{"url": "http://x/v.mp4", "title": "视频"}]})
    assert [r["token"] for r in received] == ["stale", "fresh"] and tokens.refreshed == 1
    body = received[-1]["body"]
    assert body["touser"] == "openid-1" and body["template_id"] == "TPL1" and body["url"] == "http://x/v.mp4"
    assert body["data"]["keyword1"]["value"] == "重启光猫"


async def test_worker_delivers_the_outbox(loopback, kefu_env):
    from bot.db.repository import Repository
    from bot.notify import OutboxNotifier

    received, start = loopback

    async def send(request):
        received.append(await request.json())
        return web.json_response({"code": 0, "message_id": "m"})

    base = await start([("POST", "/v1/sms/send", send)])
    repository = Repository(kefu_env.database_url)
    notifier = OutboxNotifier.from_settings(kefu_env, repository)
    await notifier.send("13800000001", {"channel": "sms", "kind": "ivr_links", "text": "指引：http://x"})
    counts = await deliver_pending(repository, {"sms": SmsGateway(base, "k", "Kefu")})
    assert counts["sent"] == 1 and received[0]["text"] == "指引：http://x"
    assert not repository.outbound(status="pending", channel="sms")


def test_kefu_run_delivers_only_through_configured_gateways():
    from bot.outbound.sms import SmsGateway
    from bot.outbound.worker import adapters_from_settings
    from bot.settings import from_environment

    assert adapters_from_settings(from_environment({})) == {}
    configured = from_environment({"KEFU_SMS_GATEWAY_URL": "http://127.0.0.1:9", "KEFU_SMS_GATEWAY_KEY": "k"})
    assert isinstance(adapters_from_settings(configured)["sms"], SmsGateway)


async def test_a_queued_self_help_entry_reaches_wechat_with_its_page(loopback, kefu_env):
    """The outbox's self-help payload names the page ``link`` (the REST callbacks' field); a follower's
    template message must still open that page when tapped."""
    from bot.db.repository import Repository
    from bot.notify import OutboxNotifier
    from bot.selfhelp import load_catalogue, public

    received, start = loopback

    async def send(request):
        received.append(await request.json())
        return web.json_response({"errcode": 0, "errmsg": "ok", "msgid": 9})

    base = await start([("POST", "/cgi-bin/message/template/send", send)])
    repository = Repository(kefu_env.database_url)
    entry = load_catalogue(kefu_env.selfhelp_catalogue).get("remote_pairing")
    await OutboxNotifier.from_settings(kefu_env, repository).send_selfhelp("openid-1", "wechat", entry)
    counts = await deliver_pending(repository, {"wechat": WeChatTemplateSender(_Tokens(base), "TPL1")})
    assert counts["sent"] == 1
    assert received[-1]["url"] == public(entry.page()) and received[-1]["url"].endswith(entry.page())
