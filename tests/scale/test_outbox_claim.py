"""Two outbox workers draining at once deliver every message exactly once."""
from __future__ import annotations

import asyncio

from aiohttp import web

from bot.db.repository import Repository
from bot.notify import OutboxNotifier
from bot.outbound.sms import SmsGateway
from bot.outbound.worker import deliver_pending


async def test_two_workers_deliver_each_message_exactly_once(kefu_env):
    received: list[str] = []

    async def send(request):
        body = await request.json()
        await asyncio.sleep(0.01)  # a real gateway takes a moment: the workers overlap
        received.append(body["text"])
        return web.json_response({"code": 0, "message_id": body.get("client_ref", "m")})

    app = web.Application()
    app.router.add_post("/v1/sms/send", send)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
    try:
        notifier = OutboxNotifier.from_settings(kefu_env, Repository(kefu_env.database_url))
        texts = [f"指引{n}：http://x/{n}" for n in range(30)]
        for text in texts:
            await notifier.send("13800000001", {"channel": "sms", "kind": "ivr_links", "text": text})
        workers = [deliver_pending(Repository(kefu_env.database_url), {"sms": SmsGateway(base, "k", "Kefu")})
                   for _ in range(2)]
        counts = await asyncio.gather(*workers)
    finally:
        await runner.cleanup()
    assert sorted(received) == sorted(texts), "each message once, none twice, none lost"
    assert sum(c["sent"] for c in counts) == len(texts)
    assert not Repository(kefu_env.database_url).outbound(status="pending", channel="sms")
