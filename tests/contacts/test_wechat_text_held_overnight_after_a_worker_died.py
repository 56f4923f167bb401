"""A WeChat arrears reminder whose worker died once WeChat had taken it, just before the quiet hours: the next
worker finds the attempt in the quiet hours and holds it for the morning, when it is sent again as the same
message — unless WeChat said it went out.

Found in review: held overnight, it was made in the morning as a new attempt would be, saying what the
customer owed then. WeChat knows a message by its client_ref and its words (bot/outbound/wechat_delivery.py),
so a customer who had paid part of it overnight got a second reminder, with the new amount, although the
first had reached them.
"""
from __future__ import annotations

import datetime as dt

import pytest

from bot.contacts.rules import load_rules
from bot.contacts.schedule import Schedule
from bot.contacts.worker import CLAIM_LEASE, ContactWorker
from bot.db.schema import customers
from bot.ledger.rules import load_rules as load_ledger_rules
from bot.notify import Notifier
from bot.outbound.wechat_template import WeChatTemplateSender
from tests.contacts.test_arrears_settled_before_the_reminder import WorkerKilled
from tests.contacts.test_text_failures import state
from tests.contacts.test_wechat_delivery_report import forget_records, owing_follower, wechat_api
from tests.handoff.conftest import redis, redis_url  # noqa: F401  the same real Redis fixtures
from tests.text_channels import OPENID, text_channels  # noqa: F401  the loopback WeChat API


class DiesOnceSent(Notifier):
    """The WeChat template sender of a worker killed as WeChat's answer comes back: WeChat took the message,
    the schedule never hears."""

    def __init__(self, sender: WeChatTemplateSender) -> None:
        self.sender = sender

    async def send(self, to, message):
        await self.sender.send(to, message)
        raise WorkerKilled

    async def send_selfhelp(self, to, channel, entry):
        raise WorkerKilled


@pytest.mark.parametrize("balance_overnight, reminders, after", [
    (-3000, ["318.00"], ("done", 1, "sent")),  # paid part of it overnight: WeChat had the first, not again
    (-31800, ["318.00"], ("done", 1, "sent")),  # paid nothing
    (0, ["318.00"], ("done", 0, "paid")),      # paid it all: nothing more
], ids=["paid-part", "paid-nothing", "paid-all"])
async def test_a_wechat_reminder_held_overnight_after_its_worker_died_is_not_sent_twice(
        kefu_env, repository, clock, text_channels, redis_url, tmp_path,  # noqa: F811
        balance_overnight, reminders, after):
    channels, url = text_channels
    rules, customer = owing_follower(kefu_env, repository, tmp_path)
    api = wechat_api(url, redis_url)

    def worker(messenger) -> ContactWorker:
        return ContactWorker(repository, rules=lambda: load_rules(rules),
                             ledger_rules=lambda: load_ledger_rules(kefu_env.content_dir / "ledger.yml"),
                             messengers={"wechat": messenger}, clock=clock)

    try:
        clock.now = clock.now.replace(hour=12, minute=58)  # 20:58 in Shanghai, two minutes before the quiet hours
        with pytest.raises(WorkerKilled):
            await worker(DiesOnceSent(WeChatTemplateSender(api, "TPL-ARREARS"))).run_pass()
        [reminder] = Schedule(repository).listing(purpose="arrears")
        assert reminder["status"] == "calling"  # counted and handed to WeChat, then the worker was gone

        clock.now += CLAIM_LEASE + dt.timedelta(minutes=1)  # 21:01: another worker finds the attempt left
        restarted = worker(WeChatTemplateSender(api, "TPL-ARREARS"))
        await restarted.run_pass()
        assert state(Schedule(repository).get(reminder["id"])) == ("scheduled", 0, "quiet_hours")

        with repository.engine.begin() as conn:  # the night's import
            conn.execute(customers.update().where(customers.c.id == customer.id)
                         .values(balance_cents=balance_overnight))
        clock.now = (clock.now + dt.timedelta(days=1)).replace(hour=0, minute=5)  # 08:05 in Shanghai
        await restarted.run_pass()

        said = [body["data"]["keyword1"]["value"] for body in channels.to("wechat")]
        assert [next(a for a in ("318.00", "30.00") if f"欠费{a}元" in text) for text in said] == reminders
        assert state(Schedule(repository).get(reminder["id"])) == after
    finally:
        await forget_records(api)
