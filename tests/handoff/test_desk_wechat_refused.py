"""An agent's reply WeChat refuses must not look sent (found by a WeChat tester).

The desk on a real Redis queue and database; the agent's message goes out through the real
WeChat channel's customer-service output to the loopback WeChat API, told to refuse it.
"""
from __future__ import annotations

import asyncio
import time

import pytest

from bot.channels.wechat import WeChatInput
from bot.embedded_redis import free_port
from bot.handoff.desk import DeskError
from tests.channels import stack_env
from tests.channels.test_channel_config import settings
from tests.channels.wechat_client import new_openid
from tests.channels.wechat_loopback import WeChatLoopback
from tests.handoff.test_desk_first_shift import Conversations, desk, signed_in, waiting  # noqa: F401


class WeChatConversations(Conversations):
    """Says the agent's message the way ``RasaConversations.utter`` does: recorded, then sent on WeChat."""

    def __init__(self, channel: WeChatInput) -> None:
        super().__init__()
        self.channel = channel
        self.recorded: dict[str, list[dict]] = {}

    async def utter(self, conversation_id: str, response: str, **values):
        await super().utter(conversation_id, response, **values)
        # WeChat's variant of utter_agent_message is plain text; the desk keeps the agent's words
        # in the event's metadata (RasaConversations._append).
        message = {"text": f"{values.get('agent_name')}：{values.get('agent_text')}"}
        metadata = {"utter_action": response, "agent": {"name": values.get("agent_name"),
                                                        "text": values.get("agent_text")}}
        self.recorded.setdefault(conversation_id, []).append(
            {"event": "bot", "timestamp": time.time(), "text": message["text"], "data": {}, "metadata": metadata})
        output = self.channel.get_output_channel()
        await output.send_response(conversation_id, message)
        return output

    async def events(self, conversation_id: str) -> list[dict]:
        return list(self.recorded.get(conversation_id, []))


@pytest.fixture
def wechat_api():
    api = WeChatLoopback(stack_env.WECHAT_APP_ID, stack_env.WECHAT_APP_SECRET, free_port()).start()
    yield api
    api.stop()


@pytest.fixture
def conversations(wechat_api, redis_url):
    channel = WeChatInput(settings(
        WECHAT_TOKEN=stack_env.WECHAT_TOKEN, WECHAT_APP_ID=stack_env.WECHAT_APP_ID,
        WECHAT_APP_SECRET=stack_env.WECHAT_APP_SECRET, WECHAT_API_BASE_URL=f"http://127.0.0.1:{wechat_api.port}",
        REDIS_URL=redis_url))
    return WeChatConversations(channel)


async def serving(desk, queue) -> str:  # noqa: F811
    openid = new_openid()
    await signed_in(desk, "wang", ["tv"])
    await waiting(queue, openid, channel="wechat")
    assert (await desk.claim("wang", "王芳"))["conversation_id"] == openid
    return openid


@pytest.mark.parametrize("refusal, reason", [(45015, "window"), (43004, "window"), (45047, "held"),
                                             (40001, "credentials"),
                                             ("html502", "failed")])
async def test_a_refused_reply_is_reported_to_the_agent_and_marked_in_the_transcript(
        desk, queue, wechat_api, refusal, reason):  # noqa: F811
    """45015: the follower last wrote more than 48 hours ago, or unsubscribed. The desk said
    {"ok": true}; a gateway's HTML 502 became a 500 (JSONDecodeError)."""
    openid = await serving(desk, queue)
    wechat_api.send_error = refusal
    with pytest.raises(DeskError) as refused:
        await desk.send("wang", "王芳", openid, "请问您方便什么时候安排师傅上门？")
    assert (refused.value.code, refused.value.status) == (f"error_not_delivered_{reason}", 502)
    turns = (await desk.messages("wang", openid, -1))["turns"]
    assert (turns[-1]["who"], turns[-1]["agent_name"]) == ("agent", "王芳")
    assert turns[-1]["text"] == "请问您方便什么时候安排师傅上门？" and turns[-1]["undelivered"] == reason
    assert not any("上门" in m["text"]["content"] for m in wechat_api.sent_to(openid))


async def test_a_delivered_reply_is_not_marked(desk, queue, wechat_api):  # noqa: F811
    openid = await serving(desk, queue)
    await desk.send("wang", "王芳", openid, "您好，我是客服王芳")
    turns = (await desk.messages("wang", openid, -1))["turns"]
    assert "undelivered" not in turns[-1]
    await asyncio.to_thread(wechat_api.wait_for_sent, openid)


async def test_a_hanging_wechat_api_does_not_hold_the_agent_for_long(desk, queue, wechat_api):  # noqa: F811
    """It took 11 s (aiohttp's 10 s), holding the conversation's lock all the while."""
    openid = await serving(desk, queue)
    wechat_api.send_error = "hang"
    started = time.monotonic()
    with pytest.raises(DeskError) as refused:
        await desk.send("wang", "王芳", openid, "还在吗？")
    assert refused.value.code == "error_not_delivered_failed"
    assert time.monotonic() - started < 6


# An agent's long answer (about 1800 characters, over 5000 bytes of UTF-8): steps, and a link.
LONG_STEPS = "\n\n".join(
    f"第{n}步：请先关闭光猫电源，等待三十秒后再打开，观察PON灯和LOS灯的状态。"
    f"如果LOS灯红色闪烁，说明光纤信号中断，请检查光纤有没有被弯折或拔出！"
    f"如果PON灯一直闪烁，说明光猫还没有注册成功，请耐心等待两分钟。"
    f"问题仍然存在的话，请把光猫背面的标签拍照发给我，我来帮您登记报修？" for n in range(1, 13))
LONG_REPLY = (LONG_STEPS + '\n\n详细图解请看：<a href="https://kefu.example.com/guide/ont-lights?from=wechat&amp;step=all">'
              "光猫指示灯说明</a>")


def without_blanks(text: str) -> str:
    return "".join(text.split())


async def test_a_long_reply_reaches_the_follower_in_parts_in_order(desk, queue, wechat_api):  # noqa: F811
    """An 1812-character reply went out as one text of 5443 bytes, which WeChat refuses (45002):
    the follower got nothing."""
    from bot.channels.wechat_split import TEXT_LIMIT_BYTES

    assert 1500 < len(LONG_REPLY) <= 2000 and len(LONG_REPLY.encode()) > 4 * 1024  # what the desk accepts
    openid = await serving(desk, queue)
    before = len(wechat_api.sent_to(openid))  # the claim's greeting
    await desk.send("wang", "王芳", openid, LONG_REPLY)
    parts = [m["text"]["content"] for m in wechat_api.sent_to(openid)[before:]]
    assert len(parts) >= 3 and wechat_api.refused == []
    assert all(len(part.encode("utf-8")) <= TEXT_LIMIT_BYTES for part in parts)
    assert without_blanks("".join(parts)) == without_blanks("王芳：" + LONG_REPLY)  # all of it, in order
    assert all(part[-1] in "。！？" for part in parts[:-1])  # cut where a sentence ends
    assert sum('<a href="https://kefu.example.com/guide/' in part and part.endswith("</a>") for part in parts) == 1
    assert "undelivered" not in (await desk.messages("wang", openid, -1))["turns"][-1]


async def test_a_long_reply_refused_after_its_first_part_is_held_and_sent_when_the_follower_writes(
        desk, queue, wechat_api, conversations):  # noqa: F811
    """45047: WeChat allows a limited number of messages after the follower's last one; a reply in
    parts may run out half-way. The rest was lost; now it is pending at the desk and reaches the
    follower, in order, as soon as they write again."""
    openid = await serving(desk, queue)
    before = len(wechat_api.sent_to(openid))  # the claim's greeting
    wechat_api.quota = before + 1
    with pytest.raises(DeskError) as refused:
        await desk.send("wang", "王芳", openid, LONG_REPLY)
    assert (refused.value.code, refused.value.status) == ("error_not_delivered_held", 502)
    first = wechat_api.sent_to(openid)[before:]
    assert len(first) == 1 and first[0]["text"]["content"].startswith("王芳：第1步")
    assert len(wechat_api.refused) == 1  # the rest waits: sent now, it would be refused too
    held = await desk.messages("wang", openid, -1)
    assert held["turns"][-1]["undelivered"] == "held" and held["pending"] == [held["turns"][-1]["index"]]
    wechat_api.follower_wrote(openid)
    await conversations.channel.push(openid, [])  # the channel's turn for the follower's message
    parts = [m["text"]["content"] for m in wechat_api.sent_to(openid)[before:]]
    assert without_blanks("".join(parts)) == without_blanks("王芳：" + LONG_REPLY)  # all of it, in order
    delivered = await desk.messages("wang", openid, -1)
    assert "undelivered" not in delivered["turns"][-1] and delivered["pending"] == []  # the mark goes
