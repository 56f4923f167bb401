"""WeChat's report that a template message was not delivered, reaching Kefu before the sender has recorded
the send: WeChat answers a send with its msgid and may post the report (``TEMPLATESENDJOBFINISH``)
within milliseconds — before its answer has reached Kefu, or before the worker has written the contact
(or the outbox message) down as ``sent``.

Found in review: such a report matched nothing, and the contact stayed ``sent`` though WeChat had said the
customer never got it (the ledger said they had the care message; nothing tried again). The report is kept
for the send it names and taken when the send is recorded.
"""
from __future__ import annotations

import asyncio

import pytest

from bot.contacts.schedule import Schedule
from bot.notify import Notifier
from bot.outbound.wechat_template import WeChatTemplateSender
from tests.contacts.test_text_failures import due_text, state
from tests.contacts.test_wechat_delivery_report import (delivery_report, forget_records, queued_ticket_notice, wechat_api,
                                                        webhook)
from tests.channels.test_wechat_in_process import Assistant, domain, served  # noqa: F401  the served channel
from tests.handoff.conftest import redis, redis_url  # noqa: F401  the same real Redis fixtures
from tests.text_channels import OPENID, text_channels  # noqa: F401  the loopback WeChat API

REFUSED, NOT_DELIVERED = "failed:user block", "failed: system failed"


class ReportedBeforeTheRecord(Notifier):
    """The WeChat template sender, with WeChat's report of the message reaching Kefu's webhook once WeChat's
    answer has come back, before whoever sent it has recorded it."""

    def __init__(self, sender: WeChatTemplateSender, report) -> None:
        self.sender, self.report = sender, report

    async def send(self, to: str, message: dict) -> None:
        await self.sender.send(to, message)
        await self.report()

    async def send_selfhelp(self, to, channel, entry) -> None:
        raise AssertionError("not sent here")

    async def reported_not_delivered(self, client_ref: str) -> str | None:
        return await self.sender.reported_not_delivered(client_ref)


async def reporting(channels, wechat, status: str, when: str, sender: WeChatTemplateSender) -> Notifier:
    """The messenger of a worker whose sends WeChat reports ``status`` of, ``when`` as the test says."""
    async def report(msgid: int | None = None) -> None:
        answer = await asyncio.to_thread(wechat.post, delivery_report(OPENID, status, msgid or len(channels.received)))
        assert (answer.status, answer.body) == (200, "success")

    if when == "before-the-answer":
        channels.before_answer = report
        return sender
    return ReportedBeforeTheRecord(sender, report)


WHEN = ["before-the-answer", "before-the-record"]


@pytest.mark.parametrize("when", WHEN)
@pytest.mark.parametrize("status, after_report, sent_in_all", [
    (REFUSED, ("failed", 1, "channel_refused"), 1),
    (NOT_DELIVERED, ("scheduled", 1, "send_failed"), 2),
], ids=["refused-by-follower", "not-delivered"])
async def test_a_care_message_reported_not_delivered_before_it_was_recorded_is_not_left_sent(
        kefu_env, repository, make_worker, clock, text_channels, redis_url, redis, domain,  # noqa: F811
        when, status, after_report, sent_in_all):
    from bot.contacts.rules import load_rules

    channels, url = text_channels
    schedule = Schedule(repository)
    contact_id = due_text(repository, clock.now, "wechat")
    api = wechat_api(url, redis_url)
    channel = webhook(url, redis_url, kefu_env)
    try:
        async with served(channel, Assistant(), domain) as wechat:
            sender = WeChatTemplateSender(api, "TPL-CARE", timeout_s=5.0)
            worker = make_worker(messengers={"wechat": await reporting(channels, wechat, status, when, sender)})
            await worker.run_pass()
        contact = schedule.get(contact_id)
        assert state(contact) == after_report
        assert contact["details"]["delivery_report"] == status

        channels.before_answer = None
        worker = make_worker(messengers={"wechat": WeChatTemplateSender(api, "TPL-CARE", timeout_s=5.0)})
        for delay in load_rules(kefu_env.content_dir / "contacts.yml").retry_delays:
            clock.advance(minutes=delay.total_seconds() / 60)
            await worker.run_pass()
        assert len(channels.to("wechat")) == sent_in_all
        if status == NOT_DELIVERED:
            assert state(schedule.get(contact_id)) == ("done", 2, "sent")
    finally:
        await forget_records(api)


@pytest.mark.parametrize("when", WHEN)
async def test_a_ticket_notice_reported_not_delivered_before_it_was_recorded_is_listed_as_not_delivered(
        kefu_env, repository, text_channels, redis_url, redis, domain, when):  # noqa: F811
    from bot.outbound.undelivered import undelivered
    from bot.outbound.worker import deliver_pending

    channels, url = text_channels
    row = await queued_ticket_notice(kefu_env, repository)
    api = wechat_api(url, redis_url)
    channel = webhook(url, redis_url, kefu_env)
    try:
        async with served(channel, Assistant(), domain) as wechat:
            sender = await reporting(channels, wechat, NOT_DELIVERED, when, WeChatTemplateSender(api, "TPL-CARE"))
            await deliver_pending(repository, {"wechat": sender})
        [message] = undelivered(repository)
        assert (message.id, message.state) == (row["id"], "failed")
        assert NOT_DELIVERED in message.last_error
    finally:
        await forget_records(api)
