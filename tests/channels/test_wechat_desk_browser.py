"""A WeChat follower served at the desk, in Chromium: the follower's photo reaches the agent, a
reply WeChat refuses is shown as not delivered (found by a WeChat tester: it looked sent), and a
long reply is announced as several messages and arrives in parts (it was refused whole)."""
from __future__ import annotations

import pytest

from tests.channels.wechat_client import image_xml, new_msg_id, new_openid, text_xml
from tests.handoff.stack_client import desk_page, only_waiting
from tests.handoff.test_desk_wechat_refused import LONG_REPLY

pytestmark = [pytest.mark.slow, pytest.mark.browser]



def claim_only(agent, stack, openid: str) -> None:
    """The demo agent, available with only this follower waiting, takes them at the desk."""
    only_waiting(stack, openid, stack.settings.demo_agent_name)
    agent.locator("#status-select").select_option("available")
    agent.locator(".queue .entry").first.wait_for(timeout=20000)
    agent.locator("#claim").click()
    agent.locator("#conversation").wait_for(state="visible", timeout=10000)

def test_a_followers_photo_reaches_the_agent_and_a_refused_reply_is_marked(browser, running_kefu, wechat,
                                                                          wechat_api):
    stack, errors = running_kefu, []
    openid = new_openid()
    assert wechat.post(text_xml(openid, "转人工", new_msg_id())).status == 200
    context, agent = desk_page(browser, stack, errors)
    try:
        claim_only(agent, stack, openid)

        assert wechat.post(image_xml(openid, new_msg_id())).body == "success"  # not the bot's 收到您的图片啦
        photo = agent.locator("#transcript .turn.customer", has_text="[图片]")
        photo.wait_for(timeout=15000)
        # Opened through Kefu, which fetches it with WeChat's media API (tests/channels/test_wechat_desk_media.py).
        assert photo.locator("a").get_attribute("href") == \
            f"/agent/api/conversations/{openid}/wechat_media/img-media"

        agent.locator("#reply-input").fill("您好，请问电视现在是什么画面？")
        agent.locator("#reply-send").click()
        said = agent.locator("#transcript .turn.agent", has_text="什么画面")  # an agent's words, not 小服's
        said.wait_for(timeout=15000)
        assert stack.settings.demo_agent_name in said.inner_text()

        wechat_api.send_error = 45015  # more than 48 hours since the follower wrote, or unsubscribed
        agent.locator("#reply-input").fill("请问您方便什么时候安排师傅上门？")
        agent.locator("#reply-send").click()
        agent.locator("#desk-error", has_text="48小时").wait_for(timeout=15000)
        agent.locator("#transcript .turn.agent.undelivered", has_text="师傅上门").wait_for(timeout=15000)
        assert "未送达" in agent.locator("#transcript .turn.agent.undelivered").last.inner_text()
    finally:
        wechat_api.send_error = None
        context.close()
    assert not errors, errors


def test_a_long_reply_to_a_follower_is_announced_as_several_messages_and_arrives_in_parts(
        browser, running_kefu, wechat, wechat_api):
    from bot.channels.wechat_split import TEXT_LIMIT_BYTES

    stack, errors = running_kefu, []
    openid, reply = new_openid(), "".join(LONG_REPLY.split())  # the desk's input holds one line
    assert wechat.post(text_xml(openid, "转人工", new_msg_id())).status == 200
    context, agent = desk_page(browser, stack, errors)
    try:
        claim_only(agent, stack, openid)
        before = len(wechat_api.sent_to(openid))

        agent.locator("#reply-input").fill(reply)
        agent.locator("#reply-parts", has_text="约 3 条").wait_for(timeout=5000)
        agent.locator("#reply-send").click()
        parts = [m["text"]["content"] for m in wechat_api.wait_for_sent(openid, before + 3)[before:]]
        assert "".join(parts).endswith(reply) and all(len(p.encode()) <= TEXT_LIMIT_BYTES for p in parts)
        agent.locator("#transcript .turn.agent", has_text="光猫指示灯说明").wait_for(timeout=15000)
        assert agent.locator("#reply-parts").inner_text() == ""
        assert agent.locator("#transcript .turn.agent.undelivered").count() == 0
    finally:
        context.close()
    assert not errors, errors


def test_a_reply_held_for_wechats_quota_shows_pending_until_the_follower_writes_again(
        browser, running_kefu, wechat, wechat_api):
    """45047 (too many messages since the follower last wrote): the reply was lost. It is pending at
    the desk now, and delivered, its mark gone, as soon as the follower writes again."""
    stack, errors = running_kefu, []
    openid = new_openid()
    assert wechat.post(text_xml(openid, "转人工", new_msg_id())).status == 200
    context, agent = desk_page(browser, stack, errors)
    try:
        claim_only(agent, stack, openid)
        wechat_api.follower_wrote(openid)
        wechat_api.quota = 0  # the follower's quota is used up
        agent.locator("#reply-input").fill("师傅明天上午九点上门，可以吗？")
        agent.locator("#reply-send").click()
        held = agent.locator("#transcript .turn.agent.undelivered", has_text="九点上门")
        held.wait_for(timeout=15000)
        assert "待送达" in held.inner_text()
        assert not any("九点" in m["text"]["content"] for m in wechat_api.sent_to(openid))

        wechat_api.quota = None
        wechat_api.follower_wrote(openid)
        assert wechat.post(text_xml(openid, "还在吗", new_msg_id())).status == 200
        agent.locator("#transcript .turn.customer", has_text="还在吗").wait_for(timeout=15000)
        held.wait_for(state="detached", timeout=15000)  # no longer marked: delivered
        agent.locator("#transcript .turn.agent", has_text="九点上门").wait_for(timeout=5000)
        assert any("九点上门" in m["text"]["content"] for m in wechat_api.wait_for_sent(openid))
    finally:
        wechat_api.quota = None
        context.close()
    assert not errors, errors
