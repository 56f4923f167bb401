"""What WeChat tells Kefu about a follower without the follower writing (location reports, an
unsubscribe) on the real channel served in process: real Redis, the loopback WeChat API."""
from __future__ import annotations

import asyncio
import re
import time

from bot.channels.wechat import WeChatInput, parse_menu
from tests.channels.test_channel_config import settings
from tests.channels.test_wechat_in_process import (  # noqa: F401  fixtures
    Assistant, channel_env, domain, served, wechat_api,
)
from tests.channels.wechat_client import event_xml, location_event_xml, new_msg_id, new_openid, text_xml
from tests.conftest import PROJECT_ROOT
from tests.handoff.conftest import redis_url  # noqa: F401  the same real Redis fixture


async def test_location_reports_do_not_use_up_what_the_follower_may_write(redis_url, wechat_api,
                                                                         domain):  # noqa: F811
    """With 上报地理位置 on (every 5 s while the chat is open) WeChat's reports counted as the follower's
    messages: a follower writing their ninth message in a minute was told 您发送得太快啦, and so was a
    follower who typed nothing, in answer to a report."""
    assistant = Assistant()
    channel = WeChatInput(settings(**channel_env(redis_url, wechat_api)), messages_per_minute=20)
    openid, now = new_openid(), int(time.time())
    async with served(channel, assistant, domain) as wechat:
        reports = [await asyncio.to_thread(wechat.post, location_event_xml(openid, now - 60 + 5 * n))
                   for n in range(12)]
        texts = [await asyncio.to_thread(wechat.post, text_xml(openid, f"第{n}条", new_msg_id())) for n in range(9)]
        later = await asyncio.to_thread(wechat.post, location_event_xml(openid, now + 1))
    assert [(a.status, a.body) for a in reports + [later]] == [(200, "success")] * 13
    assert assistant.texts() == [f"第{n}条" for n in range(9)]
    assert not any("太快" in answer.body for answer in texts)


async def test_a_follower_who_scans_a_qr_code_gets_what_its_scene_stands_for(redis_url, wechat_api,
                                                                            domain):  # noqa: F811
    """Found in review: a follower scanning one of the account's QR codes (a sticker on the set-top box)
    got no answer at all, and one who followed the account by scanning it got the welcome, whatever
    the code was for."""
    menu = parse_menu(PROJECT_ROOT / "content" / "wechat_menu.yml")
    scene, intent = next(iter(menu["scans"].items()))
    assistant = Assistant()
    channel = WeChatInput(settings(**channel_env(redis_url, wechat_api)))
    follower, newcomer = new_openid(), new_openid()
    async with served(channel, assistant, domain) as wechat:
        for xml in (event_xml(follower, "SCAN", scene), event_xml(newcomer, "subscribe", f"qrscene_{scene}"),
                    event_xml(follower, "SCAN", "A_CODE_NOBODY_LISTED")):
            await asyncio.to_thread(wechat.post, xml)
    assert assistant.texts() == [intent, intent, menu["subscribe"]]


async def test_a_follower_past_the_rate_limit_who_unsubscribes_still_leaves(redis_url, wechat_api, domain,
                                                                           kefu_env):  # noqa: F811
    """An unsubscribe was rate-limited like a message: a follower who had written their limit and then
    unsubscribed got 您发送得太快啦 and stayed bound to the verified customer (and in the queue)."""
    from bot.security.credentials import CredentialStore

    openid = new_openid()
    credentials = CredentialStore(kefu_env.database_url)
    credentials.bind("wechat", openid, 1)
    assistant = Assistant()
    channel = WeChatInput(settings(**channel_env(redis_url, wechat_api, KEFU_DATABASE_URL=kefu_env.database_url)),
                          messages_per_minute=3)
    async with served(channel, assistant, domain) as wechat:
        for n in range(3):
            await asyncio.to_thread(wechat.post, text_xml(openid, f"第{n}条", new_msg_id()))
        answer = await asyncio.to_thread(wechat.post, event_xml(openid, "unsubscribe"))
    assert (answer.status, answer.body) == (200, "success")
    assert credentials.bound_customer("wechat", openid) is None


async def test_a_follower_who_replied_td_and_then_unsubscribes_is_still_not_called(redis_url, wechat_api, domain,
                                                                                kefu_env):  # noqa: F811
    """A bound follower replied TD (我们将不再主动给您发送回访和提醒消息): the block was on the WeChat
    account, and reached the customer's phone only through the binding. Unsubscribing dropped the
    binding, and the follow-up calls and reminder texts to their phone started again."""
    from bot.contacts.decision import ContactGate
    from bot.contacts.rules import current_rules
    from bot.db.repository import Repository
    from bot.security.credentials import CredentialStore

    repository = Repository(kefu_env.database_url)
    customer = repository.get_customer(1)
    openid = new_openid()
    CredentialStore(kefu_env.database_url).bind("wechat", openid, customer.id)
    gate = ContactGate(repository, frozenset({"phone", "sms", "wechat"}))
    reminder = {"phone": customer.phone, "openid": "", "customer_id": customer.id}
    channel = WeChatInput(settings(**channel_env(redis_url, wechat_api, KEFU_DATABASE_URL=kefu_env.database_url)))
    async with served(channel, Assistant(), domain) as wechat:
        answer = await asyncio.to_thread(wechat.post, text_xml(openid, "TD", new_msg_id()))
        assert current_rules(kefu_env.content_dir / "contacts.yml").opt_out_reply in answer.body
        assert gate.blocked(reminder) == "opt_out"
        await asyncio.to_thread(wechat.post, event_xml(openid, "unsubscribe"))
    assert CredentialStore(kefu_env.database_url).bound_customer("wechat", openid) is None
    assert gate.blocked(reminder) == "opt_out"


async def test_a_server_clock_off_by_minutes_is_named_in_the_log_not_a_bad_signature(
        redis_url, wechat_api, domain, caplog):  # noqa: F811
    """A server whose clock was 10 minutes off answered every follower 403 (WeChat then tells them
    该公众号暂时无法提供服务) and logged wechat.request.bad_signature: the operator compared the Token with
    the console again and again, when the signature was right and the clock wrong."""
    import logging

    channel = WeChatInput(settings(**channel_env(redis_url, wechat_api)))
    assistant = Assistant()
    async with served(channel, assistant, domain) as wechat:
        with caplog.at_level(logging.WARNING, logger="bot.channels.wechat"):
            answer = await asyncio.to_thread(wechat.post, text_xml(new_openid(), "你好", new_msg_id()),
                                             timestamp=str(int(time.time()) - 600))
    assert answer.status == 403 and assistant.heard == []
    logged = [record.getMessage() for record in caplog.records]
    assert not any("bad_signature" in line for line in logged)
    assert any("clock" in line and re.search(r"skew_seconds=60[0-2]\b", line) for line in logged)


async def test_messages_held_for_a_follower_who_unsubscribes_are_dropped_and_shown_undelivered(
        redis_url, wechat_api, domain, kefu_env):  # noqa: F811
    """An agent's message held for WeChat's quota (待送达: sent when the follower writes again) stayed
    待送达 after the follower unsubscribed, though nothing could reach them; and when they followed
    again the next day, that old message arrived before the welcome."""
    import redis.asyncio as aioredis

    from bot.channels.wechat_replies import TextUnit
    from bot.handoff.undelivered import undelivered_key, undelivered_marks
    from tests.channels.test_wechat import reply_fields

    wechat_api.quota = 0  # the follower's quota is used up
    assistant = Assistant()
    assistant.replies = [{"text": "欢迎关注"}]
    channel = WeChatInput(settings(**channel_env(redis_url, wechat_api, KEFU_DATABASE_URL=kefu_env.database_url)))
    openid = new_openid()
    client = aioredis.from_url(redis_url)
    try:
        assert await channel.push(openid, [TextUnit("师傅明天上午到")]) == "held"
        await client.hset(undelivered_key(openid), "1700000000.0", "held")  # as the desk marks it
        async with served(channel, assistant, domain) as wechat:
            await asyncio.to_thread(wechat.post, event_xml(openid, "unsubscribe"))
            assert await undelivered_marks(client, openid) == {"1700000000.0": "window"}
            wechat_api.quota = 5
            wechat_api.follower_wrote(openid)
            welcome = await asyncio.to_thread(wechat.post, event_xml(openid, "subscribe"))
    finally:
        await client.close()
    assert reply_fields(welcome.body)["Content"] == "欢迎关注"
    assert wechat_api.sent_to(openid) == []


async def test_a_message_held_past_48_hours_is_shown_undelivered_not_pending(redis_url, wechat_api,
                                                                            domain):  # noqa: F811
    """Held messages are kept 48 hours, then dropped unsent; the desk went on showing the agent's message
    待送达 (客户下次给公众号发消息时会按顺序自动发出) for 30 days, though it would never go out."""
    import redis.asyncio as aioredis

    from bot.channels.wechat_replies import TextUnit
    from bot.handoff.undelivered import undelivered_key, undelivered_marks

    wechat_api.quota = 0
    channel = WeChatInput(settings(**channel_env(redis_url, wechat_api)))
    openid = new_openid()
    client = aioredis.from_url(redis_url)
    try:
        assert await channel.push(openid, [TextUnit("师傅明天上午到")]) == "held"
        await client.hset(undelivered_key(openid), "1700000000.0", "held")  # as the desk marks it
        assert await undelivered_marks(client, openid) == {"1700000000.0": "held"}
        await client.delete(channel.held.guard.key(f"held:{openid}"))  # 48 hours on: expired
        assert await undelivered_marks(client, openid) == {"1700000000.0": "window"}
    finally:
        await client.close()


async def test_an_editors_change_to_the_menu_is_live_and_a_bad_save_keeps_the_last_good(
        redis_url, wechat_api, domain, tmp_path):  # noqa: F811
    """content/wechat_menu.yml is the editors' (its header says so), but was read once at start: a button
    an editor mapped while Kefu ran did nothing for followers until a restart."""
    import shutil

    from tests.conftest import PROJECT_ROOT

    content = tmp_path / "content"
    shutil.copytree(PROJECT_ROOT / "content", content)
    menu = content / "wechat_menu.yml"
    assistant = Assistant()
    channel = WeChatInput(settings(**channel_env(redis_url, wechat_api, KEFU_CONTENT_DIR=str(content))))
    openid = new_openid()
    async with served(channel, assistant, domain) as wechat:
        text = menu.read_text(encoding="utf-8")
        menu.write_text(text.replace("  QUERY_BILL: /query_bill\n", "  QUERY_BILL: /query_bill\n  FAULT_REMOTE: /fault_remote\n"),
                        encoding="utf-8")
        await asyncio.to_thread(wechat.post, event_xml(openid, "CLICK", "FAULT_REMOTE"))
        menu.write_text("clicks: [broken\n", encoding="utf-8")  # a bad save: the last good menu serves
        await asyncio.to_thread(wechat.post, event_xml(openid, "CLICK", "QUERY_BILL", create_time=int(time.time()) + 1))
    assert assistant.texts() == ["/fault_remote", "/query_bill"]


async def test_a_menu_key_missing_from_the_menu_file_is_named_in_the_log(redis_url, wechat_api, domain,
                                                                        caplog):  # noqa: F811
    """A button added in the WeChat console but not in content/wechat_menu.yml does nothing for the follower;
    the log said wechat.event.unknown_menu_key with the follower's id only, not which key to add."""
    import logging

    channel = WeChatInput(settings(**channel_env(redis_url, wechat_api)))
    async with served(channel, Assistant(), domain) as wechat:
        with caplog.at_level(logging.INFO, logger="bot.channels.wechat"):
            answer = await asyncio.to_thread(wechat.post, event_xml(new_openid(), "CLICK", "QUERY_POINTS"))
    assert (answer.status, answer.body) == (200, "success")
    assert any("unknown_menu_key" in r.getMessage() and "QUERY_POINTS" in r.getMessage() and "wechat_menu.yml"
               in r.getMessage() and r.levelno >= logging.WARNING for r in caplog.records)
