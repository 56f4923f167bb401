"""Nothing lost to WeChat's quota: customer-service messages refused with 45047 (a limited number
after each message of the follower) are kept and sent, in order and before anything new, as soon
as the follower writes again. The real channel served in process, real Redis, and the loopback
WeChat API counting the follower's quota the way WeChat does."""
from __future__ import annotations

import asyncio
import time

from bot.channels.wechat import WeChatInput
from bot.channels.wechat_replies import TextUnit
from tests.channels.test_channel_config import settings
from tests.channels.test_wechat_in_process import (  # noqa: F401  fixtures
    Assistant, channel_env, domain, sent_texts, served, until, wechat_api,
)
from tests.channels.test_wechat import reply_fields
from tests.channels.wechat_client import WeChatServer, new_msg_id, new_openid, text_xml
from tests.handoff.conftest import redis_url  # noqa: F401  the same real Redis fixture

PLANS = [f"套餐{n}：每月{n * 10 + 29}元。" for n in range(1, 6)]


def write(wechat: WeChatServer, api, openid: str, text: str):
    """The follower sends a message: WeChat gives the account a fresh quota, then posts it to Kefu."""
    api.follower_wrote(openid)
    return wechat.post(text_xml(openid, text, new_msg_id()))


async def test_messages_refused_for_quota_reach_the_follower_in_order_when_they_write_again(
        redis_url, wechat_api, domain):  # noqa: F811
    """The bot's five messages met a quota of three: the last two were refused (45047) and lost.
    They now come first when the follower writes again, then the answer to what they wrote."""
    wechat_api.quota = 3
    assistant = Assistant()
    assistant.delay = 0.5  # past the reply deadline: everything goes through the customer-service API
    assistant.replies = [{"text": plan} for plan in PLANS]
    channel = WeChatInput(settings(**channel_env(redis_url, wechat_api)), reply_deadline_seconds=0.3)
    async with served(channel, assistant, domain) as wechat:
        openid = new_openid()
        await asyncio.to_thread(write, wechat, wechat_api, openid, "有哪些套餐")
        await until(lambda: len(wechat_api.refused) == 1, what="the quota to run out")
        assert sent_texts(wechat_api, openid) == PLANS[:3]
        assistant.delay, assistant.replies = 0.0, [{"text": "还有什么可以帮您？"}]
        answer = await asyncio.to_thread(write, wechat, wechat_api, openid, "好的")
        await until(lambda: len(sent_texts(wechat_api, openid)) >= 6, what="the held messages and the answer")
    assert answer.body == "success"  # a passive answer could reach the follower before the held ones
    assert sent_texts(wechat_api, openid) == PLANS + ["还有什么可以帮您？"]


async def test_held_messages_wait_for_the_follower_not_for_the_next_push(redis_url, wechat_api,
                                                                       domain):  # noqa: F811
    """Until the follower writes, a later message does not overtake the held ones: it is held too."""
    wechat_api.quota = 1
    assistant = Assistant()
    assistant.delay = 0.5
    assistant.replies = [{"text": plan} for plan in PLANS[:2]]
    channel = WeChatInput(settings(**channel_env(redis_url, wechat_api)), reply_deadline_seconds=0.3)
    async with served(channel, assistant, domain) as wechat:
        openid = new_openid()
        await asyncio.to_thread(write, wechat, wechat_api, openid, "有哪些套餐")
        await until(lambda: len(wechat_api.refused) == 1, what="the quota to run out")
        assert await channel.push(openid, [TextUnit("稍后联系您")]) == "held"  # an agent's, say
        wechat_api.quota = 5
        assistant.delay, assistant.replies = 0.0, []  # nothing to say (a person serves them, say)
        await asyncio.to_thread(write, wechat, wechat_api, openid, "嗯")
        await until(lambda: len(sent_texts(wechat_api, openid)) >= 3, what="the held messages")
    assert sent_texts(wechat_api, openid) == PLANS[:2] + ["稍后联系您"]


class OneAtATime(Assistant):
    """Like Rasa: one message of a conversation is processed at a time (its lock store), in order.
    A message waits for its gate, if it has one, then takes ``work`` seconds (Rasa's own time)."""

    def __init__(self, replies_to: dict[str, list[dict]], gates: dict[str, asyncio.Event]) -> None:
        super().__init__()
        self.replies_to, self.gates = replies_to, gates
        self.arrived: list[str] = []
        self.lock = asyncio.Lock()
        self.work = 0.2

    async def __call__(self, message) -> None:
        self.arrived.append(message.text)
        async with self.lock:
            self.heard.append(message)
            if message.text in self.gates:
                await self.gates[message.text].wait()
            await asyncio.sleep(self.work)
            for reply in self.replies_to[message.text]:
                await message.output_channel.send_response(message.sender_id, reply)


async def test_two_quick_messages_are_answered_in_order(redis_url, wechat_api, domain):  # noqa: F811
    """The first message's answer (three messages, late: pushed) was still being sent when the second
    message's quick answer went back passively: the follower read the second answer in the middle of
    the first."""
    wechat_api.send_delay = 0.3  # the first answer takes about 0.9 s to send
    first_done = asyncio.Event()
    assistant = OneAtATime({"有哪些套餐": [{"text": plan} for plan in PLANS[:3]],
                            "最便宜的呢": [{"text": "最便宜的是套餐1。"}]}, {"有哪些套餐": first_done})
    channel = WeChatInput(settings(**channel_env(redis_url, wechat_api)), reply_deadline_seconds=1.0)
    async with served(channel, assistant, domain) as wechat:
        openid = new_openid()

        def second() -> tuple[object, float]:
            answer = write(wechat, wechat_api, openid, "最便宜的呢")
            return answer, time.monotonic()

        late = await asyncio.to_thread(write, wechat, wechat_api, openid, "有哪些套餐")
        assert late.body == "success"  # past its reply time: the first answer will be pushed
        asking = asyncio.create_task(asyncio.to_thread(second))
        await until(lambda: assistant.arrived == ["有哪些套餐", "最便宜的呢"], what="the second message")
        first_done.set()  # the first answer is ready now; the second follows 0.2 s later, in its reply time
        answer, answered_at = await asking
        pushed = 3 if answer.body != "success" else 4  # the second answer passive, or pushed too
        await until(lambda: len(sent_texts(wechat_api, openid)) >= pushed, what="both answers")
    said = [(at, text) for at, text in zip(wechat_api.sent_at, sent_texts(wechat_api, openid))]
    if answer.body != "success":  # answered passively: the follower reads it when the request returns
        said.append((answered_at, reply_fields(answer.body)["Content"]))
    assert [text for _, text in sorted(said)] == PLANS[:3] + ["最便宜的是套餐1。"]


async def test_the_bots_late_answer_that_wechats_api_failed_on_comes_with_the_next_message(
        redis_url, wechat_api, domain):  # noqa: F811
    """A late answer goes through the customer-service API; when that failed (a 502 from WeChat's
    gateway, a timeout) the answer was dropped, and the follower, who had asked, never got it."""
    assistant = Assistant()
    assistant.delay = 0.5  # past the reply deadline: pushed
    assistant.replies = [{"text": PLANS[0]}]
    channel = WeChatInput(settings(**channel_env(redis_url, wechat_api)), reply_deadline_seconds=0.3)
    async with served(channel, assistant, domain) as wechat:
        openid = new_openid()
        wechat_api.send_error = "html502"
        await asyncio.to_thread(write, wechat, wechat_api, openid, "有哪些套餐")
        await until(lambda: len(wechat_api.refused) == 1, what="the failed send")
        wechat_api.send_error = None
        assistant.replies = [{"text": "还有什么可以帮您？"}]
        await asyncio.to_thread(write, wechat, wechat_api, openid, "在吗")
        await until(lambda: len(sent_texts(wechat_api, openid)) >= 2, what="the held answer and the new one")
    assert sent_texts(wechat_api, openid) == [PLANS[0], "还有什么可以帮您？"]


async def test_place_in_line_notices_leave_room_for_the_agent_joining(redis_url, wechat_api, domain):  # noqa: F811
    """Found driving the channel as a follower: in a busy queue the place changed five times, each notice a
    customer-service message, and WeChat's quota (five after the follower's message) was gone; the agent's
    "已为您接入" and first words were held, and the follower, told nothing, waited on until they wrote again."""
    wechat_api.quota = 5
    assistant = Assistant()
    assistant.replies = [{"text": "正在为您转接人工客服，您目前排在第 8 位。"}]
    channel = WeChatInput(settings(**channel_env(redis_url, wechat_api)))
    joined, first_words = "人工客服 demo 已为您接入，请问有什么可以帮您？", "demo：您好，我是小王。"
    async with served(channel, assistant, domain) as wechat:
        openid = new_openid()
        await asyncio.to_thread(write, wechat, wechat_api, openid, "转人工")
        output = channel.get_output_channel()
        for place in range(7, 0, -1):
            await output.send_response(openid, {
                "text": f"人工客服正在忙，您目前排在第 {place} 位，请稍候。",
                "custom": {"kind": "queue_status", "position": str(place), "wait_minutes": "1"}})
        await output.send_response(openid, {"text": joined})
        await output.send_response(openid, {"text": first_words})
    assert sent_texts(wechat_api, openid)[-2:] == [joined, first_words]
    assert output.undelivered == [] and wechat_api.refused == []


async def test_a_held_place_in_line_notice_is_dropped_once_the_agent_joining_supersedes_it(
        redis_url, wechat_api, domain):  # noqa: F811
    """Found by a review: a place-in-line notice WeChat refused for quota was held, and when the follower wrote
    again it reached them stale (第 1 位) before 已为您接入. Held behind a later message, a notice is dropped."""
    wechat_api.quota = 1
    assistant = Assistant()
    assistant.replies = [{"text": "正在为您转接人工客服，您目前排在第 3 位。"}]
    channel = WeChatInput(settings(**channel_env(redis_url, wechat_api)))
    joined = "人工客服 demo 已为您接入，请问有什么可以帮您？"
    async with served(channel, assistant, domain) as wechat:
        openid = new_openid()
        await asyncio.to_thread(write, wechat, wechat_api, openid, "转人工")
        output = channel.get_output_channel()
        for place in (2, 1):  # the second refused (45047): held
            await output.send_response(openid, {
                "text": f"人工客服正在忙，您目前排在第 {place} 位，请稍候。",
                "custom": {"kind": "queue_status", "position": str(place), "wait_minutes": "1"}})
        await output.send_response(openid, {"text": joined})  # held behind the notice
        assert len(wechat_api.refused) == 2
        wechat_api.quota = 5  # the follower's message gives room for all of them
        assistant.replies = [{"text": "demo：您好，我是小王。"}]
        await asyncio.to_thread(write, wechat, wechat_api, openid, "在吗")
        await until(lambda: "demo：您好，我是小王。" in sent_texts(wechat_api, openid), what="the held messages")
    after_place_2 = sent_texts(wechat_api, openid)[sent_texts(wechat_api, openid).index(
        "人工客服正在忙，您目前排在第 2 位，请稍候。") + 1:]
    assert after_place_2 == [joined, "demo：您好，我是小王。"], "no stale 第 1 位 before 已为您接入"
