"""Replies WeChat refused for quota (errcode 45047) wait in Redis for the follower's next message,
up to 48 hours (``bot/channels/wechat_held.py``): the bot's answers to them — their name, their bill.
The erasure did not reach them (they stayed, and went out when the follower wrote again), nor did
the export list them."""
from __future__ import annotations

import asyncio
import json

from bot.channels.guard import ChannelGuard
from bot.channels.wechat_held import HeldMessages
from tests.handoff.conftest import redis_url  # noqa: F401  the real Redis of the handoff tests
from tests.privacy.test_customer_requests import env, kefu  # noqa: F401  the seeded stores

HELD = {"touser": "oZhangWei01", "msgtype": "text", "text": {"content": "张伟您好，您本月账单79元，已逾期"}}
OTHERS = {"touser": "oLiNa02", "msgtype": "text", "text": {"content": "李娜您好"}}


def hold(redis_url: str, openid: str, message: dict) -> str:  # noqa: F811
    async def keep() -> str:
        held = HeldMessages(ChannelGuard(redis_url, "kefu:wechat"))  # the WeChat channel's guard
        try:
            await held.keep(openid, [message])
            assert await held.pending(openid) == [message]
        finally:
            await held.guard.client().close()
        return held._key(openid)

    return asyncio.run(keep())


def test_replies_held_for_their_wechat_are_exported_and_erased(env, redis_url, tmp_path):  # noqa: F811
    _settings, client, _seeded = env
    theirs, others = hold(redis_url, "oZhangWei01", HELD), hold(redis_url, "oLiNa02", OTHERS)

    folder = tmp_path / "export"
    assert kefu("customer", "export", "13800000001", "--out", str(folder)) == 0
    assert HELD["text"]["content"] in json.dumps(json.loads((folder / "customer.json").read_text(encoding="utf-8"))[
        "redis"], ensure_ascii=False)

    assert kefu("customer", "erase", "13800000001", "--yes") == 0
    assert not client.exists(theirs) and client.exists(others)


def test_the_records_of_template_messages_sent_to_their_wechat_are_erased(env, redis_url):  # noqa: F811
    """The delivery-report records of template messages (bot/outbound/wechat_delivery.py) name the follower's
    openid; the erasure left them for three days."""
    from bot.outbound import wechat_delivery

    _settings, client, _seeded = env

    def sent(openid: str, ref: str) -> str:
        async def send() -> str:
            guard = ChannelGuard(redis_url, "kefu:wechat")  # the WeChat channel's guard
            try:
                key = wechat_delivery.sent_key(ref, {"touser": openid})
                await wechat_delivery.handing_over(guard, key, openid)
                await wechat_delivery.record_report(guard, openid, "failed: system failed")
                return key
            finally:
                await guard.client().close()

        return asyncio.run(send())

    theirs, others = sent("oZhangWei01", "contact-1-1"), sent("oLiNa02", "contact-2-1")
    named = [f"kefu:wechat:{k}" for k in (theirs, f"{theirs}:report", "template_last:oZhangWei01")]
    kept = [f"kefu:wechat:{k}" for k in (others, f"{others}:report", "template_last:oLiNa02")]
    assert all(client.exists(k) for k in named + kept)

    assert kefu("customer", "erase", "13800000001", "--yes") == 0
    assert not any(client.exists(k) for k in named)
    assert all(client.exists(k) for k in kept)  # another follower's stay
