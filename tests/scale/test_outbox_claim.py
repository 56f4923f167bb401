"""Two outbox workers draining at once deliver every message exactly once."""
from __future__ import annotations

import asyncio

from bot.db.repository import Repository
from bot.notify import OutboxNotifier
from bot.outbound.sms import SmsGateway
from bot.outbound.worker import deliver_pending
from tests.sms_loopback import sms_loopback


async def test_two_workers_deliver_each_message_exactly_once(kefu_env):
    async with sms_loopback(delay_s=0.01) as (received, base):
        notifier = OutboxNotifier.from_settings(kefu_env, Repository(kefu_env.database_url))
        texts = [f"指引{n}：http://x/{n}" for n in range(30)]
        for text in texts:
            await notifier.send("13800000001", {"channel": "sms", "kind": "ivr_links", "text": text})
        workers = [deliver_pending(Repository(kefu_env.database_url), {"sms": SmsGateway(base, "k", "Kefu")})
                   for _ in range(2)]
        counts = await asyncio.gather(*workers)
    assert sorted(body["text"] for body in received) == sorted(texts), "each message once, none twice, none lost"
    assert sum(c["sent"] for c in counts) == len(texts)
    assert not Repository(kefu_env.database_url).outbound(status="pending", channel="sms")
