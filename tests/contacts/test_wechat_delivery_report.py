"""A WeChat template message that may have gone out (WeChat's answer never came) is sent again only when
WeChat's delivery report for the follower does not say it arrived.

WeChat's template API takes no ``client_ref``: the retry of a care message whose first send timed out
reached the follower twice when the first had gone out. WeChat reports each template message it delivered
to the account's webhook (``TEMPLATESENDJOBFINISH``); the report reaches the WeChat channel, served here in
process on the same Redis as the contact worker's sender, as it is in ``kefu run``.
"""
from __future__ import annotations

import asyncio
import time

import pytest

from bot.channels.guard import ChannelGuard
from bot.channels.wechat import WeChatInput
from bot.channels.wechat_api import WeChatApi
from bot.contacts.schedule import Schedule
from bot.notify import NotifyError
from bot.outbound.wechat_template import WeChatTemplateSender
from tests.channels import stack_env
from tests.channels.test_channel_config import settings
from tests.channels.test_wechat_in_process import Assistant, domain, served  # noqa: F401  the served channel
from tests.channels.wechat_client import ACCOUNT
from tests.contacts.test_text_failures import due_text, state
from tests.handoff.conftest import redis, redis_url  # noqa: F401  the same real Redis fixtures (redis: emptied)
from tests.text_channels import OPENID, text_channels  # noqa: F401  the loopback WeChat API

PREFIX = "kefu:wechat"  # the WeChat channel's, and so its sender's


def delivery_report(openid: str, status: str, msgid: int = 200163836, created: int | None = None) -> str:
    """WeChat's TEMPLATESENDJOBFINISH event, as its documentation gives it."""
    return (f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{created or int(time.time())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event><MsgID>{msgid}</MsgID>"
            f"<Status><![CDATA[{status}]]></Status></xml>")


def wechat_api(url: str, redis_url: str) -> WeChatApi:
    """The WeChat API client of the template sender, on the loopback WeChat."""
    return WeChatApi(url, stack_env.WECHAT_APP_ID, stack_env.WECHAT_APP_SECRET, ChannelGuard(redis_url, PREFIX))


def webhook(url: str, redis_url: str, kefu_env=None) -> WeChatInput:
    """The WeChat channel that takes the delivery reports; with ``kefu_env``, on its database and content."""
    kefu = {} if kefu_env is None else {"KEFU_DATABASE_URL": kefu_env.database_url,
                                        "KEFU_CONTENT_DIR": str(kefu_env.content_dir)}
    return WeChatInput(settings(WECHAT_TOKEN=stack_env.WECHAT_TOKEN, WECHAT_APP_ID=stack_env.WECHAT_APP_ID,
                                WECHAT_APP_SECRET=stack_env.WECHAT_APP_SECRET, WECHAT_API_BASE_URL=url,
                                REDIS_URL=redis_url, **kefu))


async def forget_records(api) -> None:
    """The sender's records in Redis of what this test sent and was told (they outlive its database). The
    loopback WeChat numbers its answers (msgids) from 1 in every test: one test's record of a msgid claimed
    the next test's report of it (the care message was then sent twice)."""
    client = api.guard.client()
    records = [key async for key in client.scan_iter(f"{PREFIX}:template_*")]
    if records:
        await client.delete(*records)
    await api.close()


async def queued_ticket_notice(kefu_env, repository) -> dict:
    """A ticket notice to the follower, queued in the outbox as the assistant queues it: its row."""
    from bot.notify import OutboxNotifier

    await OutboxNotifier.from_settings(kefu_env, repository).send(
        OPENID, {"channel": "wechat", "kind": "ticket_notice", "text": "您的报修单已受理。"})
    [row] = repository.outbound(status="pending", channel="wechat", limit=10_000)
    return row


def owing_follower(kefu_env, repository, tmp_path):
    """The contact rules with the arrears reminder on WeChat, and the owing customer, bound to the follower."""
    from bot.db.schema import channel_bindings
    from tests.contacts.test_wechat_template_fields import OWING_PHONE, contacts_file

    rules = contacts_file(kefu_env, tmp_path, lambda raw: None)  # the arrears reminder on WeChat
    customer = repository.find_customer(phone=OWING_PHONE)
    with repository.engine.begin() as conn:
        conn.execute(channel_bindings.insert().values(channel="wechat", external_id=OPENID, customer_id=customer.id))
    return rules, customer


@pytest.mark.parametrize("status, sent_again, after", [
    ("success", False, ("done", 2, "sent")),  # counted as SMS's retry under its client_ref is
    ("failed:user block", False, ("failed", 2, "channel_refused")),
    ("failed: system failed", True, ("done", 2, "sent")),
    (None, True, ("done", 2, "sent")),  # no report came: sent again, as without reports
], ids=["delivered", "refused-by-follower", "not-delivered", "no-report"])
async def test_a_care_message_whose_send_timed_out_is_sent_again_only_if_not_delivered(
        kefu_env, repository, make_worker, clock, text_channels, redis_url, domain, status, sent_again, after):  # noqa: F811
    from bot.contacts.rules import load_rules

    channels, url = text_channels
    schedule = Schedule(repository)
    contact_id = due_text(repository, clock.now, "wechat")
    api = wechat_api(url, redis_url)
    worker = make_worker(messengers={"wechat": WeChatTemplateSender(api, "TPL-CARE", timeout_s=1.0)})
    try:
        channels.answer = "slow"  # WeChat took it, and its answer never came
        await worker.run_pass()
        assert state(schedule.get(contact_id)) == ("scheduled", 1, "send_failed")
        assert len(channels.to("wechat")) == 1

        if status is not None:
            channel = webhook(url, redis_url)
            async with served(channel, Assistant(), domain) as wechat:
                answer = await asyncio.to_thread(wechat.post, delivery_report(OPENID, status))
            assert (answer.status, answer.body) == (200, "success")  # a report gets no reply

        channels.answer = "ok"
        clock.advance(minutes=load_rules(kefu_env.content_dir / "contacts.yml").retry_delays[0].total_seconds() / 60)
        await worker.run_pass()
        assert state(schedule.get(contact_id)) == after
        assert len(channels.to("wechat")) == (2 if sent_again else 1)
    finally:  # the next case's contact is contact 1 of a new database too
        await forget_records(api)



@pytest.mark.parametrize("report_before_notice, notice_answer, reported, sent_again", [
    (True, "ok", "care", False),
    (False, "ok", "notice", True),
    (False, "ok", "care", False),  # the care message's report, after the notice WeChat answered
    (False, ("wechat", -1), "care", False),  # WeChat busy: the notice surely not sent
    (None, "ok", "both", False),
], ids=["care-reported-then-notice", "notice-reported", "care-reported-after-notice", "notice-not-sent",
        "both-reported-in-one-second"])
async def test_a_report_is_taken_for_the_template_message_it_names(
        kefu_env, repository, make_worker, clock, text_channels, redis_url, domain,  # noqa: F811
        report_before_notice, notice_answer, reported, sent_again):
    """The care message's send timed out, so Kefu never learnt its msgid; a ticket notice (the outbox's
    template message, ``outbox-<id>``) then went to the same follower, and WeChat reported a message
    delivered. A report naming the notice's msgid (WeChat's answer to its send) is the notice's, and the
    care message is sent again; a report naming another msgid is the care message's, before the notice or
    after it (also in the same second as the notice's), and the care message is not sent again (found in review: a report after the notice was taken
    for the care message too, which the customer then never got when its send had really been lost; then
    one after the notice was always taken for the notice, so the care message reached them twice)."""
    from bot.contacts.rules import load_rules

    channels, url = text_channels
    schedule = Schedule(repository)
    contact_id = due_text(repository, clock.now, "wechat")
    api = wechat_api(url, redis_url)
    sender = WeChatTemplateSender(api, "TPL-CARE", timeout_s=1.0)
    worker = make_worker(messengers={"wechat": sender})
    channel = webhook(url, redis_url)
    try:
        channels.answer = "slow"
        await worker.run_pass()
        assert state(schedule.get(contact_id)) == ("scheduled", 1, "send_failed")
        care = channels.to("wechat")[0]["data"]
        care_msgid = 1  # the loopback WeChat's msgid for the first send, which Kefu never heard

        channels.answer = "ok"
        async with served(channel, Assistant(), domain) as wechat:
            if report_before_notice:
                await asyncio.to_thread(wechat.post, delivery_report(OPENID, "success", care_msgid))
            notice = {"text": "您的报修工单已受理", "title": "工单通知", "client_ref": "outbox-7"}
            channels.answer = notice_answer
            try:
                await sender.send(OPENID, notice)  # as the outbox worker sends it
            except NotifyError as refused:
                assert refused.sent_nothing and notice_answer != "ok"
            channels.answer = "ok"
            if report_before_notice is False:
                msgid = len(channels.received) if reported == "notice" else care_msgid
                await asyncio.to_thread(wechat.post, delivery_report(OPENID, "success", msgid))
            if reported == "both":  # in one second: two reports, not WeChat's retry of one
                second = int(time.time())
                for msgid in (len(channels.received), care_msgid):
                    await asyncio.to_thread(wechat.post, delivery_report(OPENID, "success", msgid, second))

        clock.advance(minutes=load_rules(kefu_env.content_dir / "contacts.yml").retry_delays[0].total_seconds() / 60)
        await worker.run_pass()
        assert state(schedule.get(contact_id)) == ("done", 2, "sent")
        assert [body["data"] for body in channels.to("wechat")].count(care) == (2 if sent_again else 1)
    finally:
        await forget_records(api)


@pytest.mark.parametrize("status, after_report, sent_in_all, events", [
    ("failed:user block", ("failed", 1, "channel_refused"), 1, [("channel_refused", True)]),
    ("failed: system failed", ("scheduled", 1, "send_failed"), 2, [("send_failed", None), ("sent", None)]),
    ("success", ("done", 1, "sent"), 1, []),
], ids=["refused-by-follower", "not-delivered", "delivered"])
async def test_a_care_message_wechat_took_but_could_not_deliver_is_not_left_sent(
        kefu_env, repository, make_worker, clock, text_channels, redis_url, redis, domain,  # noqa: F811
        status, after_report, sent_in_all, events):
    """WeChat answered the send (errcode 0, its msgid), then reported that the message did not reach the
    follower. Found in review: the contact stayed ``done`` as ``sent`` — the ledger said the customer had the
    care message, and nothing tried again. Now the report is taken as WeChat's answer would have been: the
    follower refusing the account's messages ends the contact ``failed`` as refused, as an errcode would; a
    message WeChat failed to deliver is sent again after the retry delay, once, however often the report
    comes (WeChat may send it twice; each here in its own second, so the webhook takes both)."""
    from bot.contacts.rules import load_rules

    channels, url = text_channels
    schedule = Schedule(repository)
    contact_id = due_text(repository, clock.now, "wechat")
    api = wechat_api(url, redis_url)
    worker = make_worker(messengers={"wechat": WeChatTemplateSender(api, "TPL-CARE", timeout_s=1.0)})
    channel = webhook(url, redis_url, kefu_env)
    try:
        await worker.run_pass()
        assert state(schedule.get(contact_id)) == ("done", 1, "sent")
        msgid = len(channels.received)  # the loopback WeChat's answer to that send

        async with served(channel, Assistant(), domain) as wechat:
            second = int(time.time())
            for created in (second, second + 1):
                answer = await asyncio.to_thread(wechat.post, delivery_report(OPENID, status, msgid, created))
                assert (answer.status, answer.body) == (200, "success")
        contact = schedule.get(contact_id)
        assert state(contact) == after_report
        if status != "success":
            assert contact["details"]["delivery_report"] == status  # why, for whoever reads the contact

        for minutes in load_rules(kefu_env.content_dir / "contacts.yml").retry_delays:  # past every retry delay
            clock.advance(minutes=minutes.total_seconds() / 60)
            await worker.run_pass()
        assert len(channels.to("wechat")) == sent_in_all
        attempted = [e["data"] for e in repository.events_for(f"contact:{contact_id}")
                     if e["kind"] == "contact_attempted"]
        assert [(e["result"], e.get("final")) for e in attempted[1:]] == events
    finally:
        await forget_records(api)


@pytest.mark.parametrize("status, listed, resent", [
    ("failed:user block", True, False),  # resent, WeChat's report refuses it again, as WeChat would
    ("failed: system failed", True, True),
    ("success", False, None),
], ids=["refused-by-follower", "not-delivered", "delivered"])
async def test_a_ticket_notice_wechat_took_but_could_not_deliver_is_listed_as_not_delivered(
        kefu_env, repository, text_channels, redis_url, redis, domain, status, listed, resent):  # noqa: F811
    """The outbox's WeChat message (a ticket notice) WeChat answered and then reported not delivered. Found in
    review: it stayed ``sent``, so ``kefu outbox list`` never showed the operator a notice the customer did
    not get. It is given up (``failed``) with the report as its last error, for a person to resend or drop;
    resent, it goes out again (under the same ``client_ref``, which had it taken for delivered already)."""
    from bot.outbound.undelivered import resend, undelivered
    from bot.outbound.worker import deliver_pending

    channels, url = text_channels
    row = await queued_ticket_notice(kefu_env, repository)
    api = wechat_api(url, redis_url)
    channel = webhook(url, redis_url, kefu_env)
    try:
        assert (await deliver_pending(repository, {"wechat": WeChatTemplateSender(api, "TPL-CARE")}))["sent"] == 1
        assert undelivered(repository) == []
        async with served(channel, Assistant(), domain) as wechat:
            second = int(time.time())
            for created in (second, second + 1):  # WeChat's report, twice
                await asyncio.to_thread(wechat.post, delivery_report(OPENID, status, len(channels.received), created))
        messages = undelivered(repository)
        if listed:
            [message] = messages
            assert (message.id, message.state) == (row["id"], "failed")
            assert status in message.last_error
        else:
            assert messages == []
        assert len(channels.to("wechat")) == 1
        if resent is not None:  # the operator: kefu outbox resend
            resend(repository, row["id"])
            await deliver_pending(repository, {"wechat": WeChatTemplateSender(api, "TPL-CARE")})
            assert len(channels.to("wechat")) == (2 if resent else 1)
            assert [m.state for m in undelivered(repository)] == ([] if resent else ["failed"])
    finally:
        await forget_records(api)


async def test_a_care_message_sent_again_after_a_timeout_and_then_not_delivered_is_sent_once_more(
        kefu_env, repository, make_worker, clock, text_channels, redis_url, redis, domain):  # noqa: F811
    """The first send timed out; the retry went under the same ``client_ref`` (the first may have gone out),
    WeChat took it and then reported it not delivered. The next retry is a message of its own: under the
    kept ``client_ref`` it was taken for delivered already, and the customer got nothing."""
    from bot.contacts.rules import load_rules

    channels, url = text_channels
    delays = load_rules(kefu_env.content_dir / "contacts.yml").retry_delays
    schedule = Schedule(repository)
    contact_id = due_text(repository, clock.now, "wechat")
    api = wechat_api(url, redis_url)
    worker = make_worker(messengers={"wechat": WeChatTemplateSender(api, "TPL-CARE", timeout_s=1.0)})
    channel = webhook(url, redis_url, kefu_env)
    try:
        channels.answer = "slow"
        await worker.run_pass()
        channels.answer = "ok"
        clock.advance(minutes=delays[0].total_seconds() / 60)
        await worker.run_pass()
        assert state(schedule.get(contact_id)) == ("done", 2, "sent")
        async with served(channel, Assistant(), domain) as wechat:
            report = delivery_report(OPENID, "failed: system failed", len(channels.received))
            await asyncio.to_thread(wechat.post, report)
        assert state(schedule.get(contact_id)) == ("scheduled", 2, "send_failed")

        clock.advance(days=1)  # past the next delay, into a day whose attempts are not used up
        await worker.run_pass()
        assert state(schedule.get(contact_id)) == ("done", 3, "sent")
        assert len(channels.to("wechat")) == 3
    finally:
        await forget_records(api)


@pytest.mark.parametrize("status, texts", [
    ("success", ["318.00"]),                   # it went out: not again, whatever is owed now
    ("failed: system failed", ["318.00", "318.00"]),  # not delivered: sent again as the same message
    (None, ["318.00", "318.00"]),              # no report: sent again as the same message
], ids=["delivered", "not-delivered", "no-report"])
async def test_an_arrears_reminder_whose_send_timed_out_is_not_sent_again_with_another_amount(
        kefu_env, repository, clock, text_channels, redis_url, domain, tmp_path, status, texts):  # noqa: F811
    """Found in review: a reminder of 45.00 timed out on WeChat and went out; the customer paid 15.00 before
    the retry, which said what is owed now (30.00) — another message than the first, so WeChat's report
    that the first had arrived did not stop it, and the customer got two reminders. A WeChat message that
    may have gone out is sent again as it was, its client_ref and its words (one reported not delivered
    too: the worker does not see the report; a customer who paid it all meanwhile gets none)."""
    from bot.contacts.rules import load_rules
    from bot.contacts.worker import ContactWorker
    from bot.db.schema import customers
    from bot.ledger.rules import load_rules as load_ledger_rules

    channels, url = text_channels
    rules, customer = owing_follower(kefu_env, repository, tmp_path)
    api = wechat_api(url, redis_url)
    worker = ContactWorker(repository, rules=lambda: load_rules(rules),
                           ledger_rules=lambda: load_ledger_rules(kefu_env.content_dir / "ledger.yml"),
                           messengers={"wechat": WeChatTemplateSender(api, "TPL-ARREARS", timeout_s=1.0)}, clock=clock)
    try:
        channels.answer = "slow"  # WeChat took it, and its answer never came
        await worker.run_pass()
        [reminder] = Schedule(repository).listing(purpose="arrears")
        assert state(reminder) == ("scheduled", 1, "send_failed")
        if status is not None:
            channel = webhook(url, redis_url)
            async with served(channel, Assistant(), domain) as wechat:
                await asyncio.to_thread(wechat.post, delivery_report(OPENID, status))
        with repository.engine.begin() as conn:  # paid 15.00 of it before the retry
            conn.execute(customers.update().where(customers.c.id == customer.id).values(balance_cents=-3000))

        channels.answer = "ok"
        clock.advance(minutes=load_rules(rules).retry_delays[0].total_seconds() / 60)
        await worker.run_pass()
        said = [body["data"]["keyword1"]["value"] for body in channels.to("wechat")]
        assert [next(amount for amount in ("318.00", "30.00") if f"欠费{amount}元" in text) for text in said] == texts
        assert state(Schedule(repository).get(reminder["id"])) == ("done", 2, "sent")
    finally:
        reminders = Schedule(repository).listing(purpose="arrears")
        await forget_records(api)
