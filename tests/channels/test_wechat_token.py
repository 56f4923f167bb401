"""The WeChat access token, shared by every Kefu process through Redis, against the loopback WeChat API."""
from __future__ import annotations

import asyncio
import uuid

from bot.channels.guard import ChannelGuard
from bot.channels.wechat_api import WeChatApi
from bot.channels.wechat_replies import TextUnit, custom_message
from bot.embedded_redis import free_port
from tests.channels import stack_env
from tests.channels.wechat_client import new_openid
from tests.channels.wechat_loopback import WeChatLoopback
from tests.handoff.conftest import redis_url  # noqa: F401  the same real Redis fixture


async def test_a_token_refused_in_a_burst_is_fetched_again_once_for_every_process(redis_url):  # noqa: F811
    """Each send WeChat refused for a stale token fetched a new one, in every process: a burst of
    replies after another system took a token spent one fetch each of WeChat's 2000 a day (and each
    fetch replaced the one before)."""
    wechat = WeChatLoopback(stack_env.WECHAT_APP_ID, stack_env.WECHAT_APP_SECRET, free_port()).start()
    prefix = f"kefu:wechat-token-test:{uuid.uuid4().hex}"
    processes = [WeChatApi(f"http://127.0.0.1:{wechat.port}", stack_env.WECHAT_APP_ID, stack_env.WECHAT_APP_SECRET,
                           ChannelGuard(redis_url, prefix)) for _ in range(2)]
    try:
        openid = new_openid()
        await processes[0].send_custom(custom_message(openid, TextUnit("您好")))
        assert wechat.token_requests == 1
        wechat.revoke_token()
        await asyncio.gather(*(api.send_custom(custom_message(openid, TextUnit(f"第{n}条")))
                               for n in range(3) for api in processes))
        assert len(wechat.sent_to(openid)) == 7
        assert wechat.token_requests == 2
    finally:
        for api in processes:
            await api.close()
        wechat.stop()
