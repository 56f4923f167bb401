"""Kefu's client of WeChat's server API (access token shared through Redis, media download) against the
loopback WeChat API."""
from __future__ import annotations

import asyncio
import uuid

import pytest

from bot.channels.guard import ChannelGuard
from bot.channels.wechat_api import MAX_MEDIA_BYTES, WeChatApi, WeChatApiError
from bot.channels.wechat_replies import TextUnit, custom_message
from bot.embedded_redis import free_port
from tests.channels import stack_env
from tests.channels.wechat_client import new_openid
from tests.channels.wechat_loopback import Media, WeChatLoopback
from tests.handoff.conftest import redis_url  # noqa: F401  the same real Redis fixture


@pytest.fixture
def wechat():
    loopback = WeChatLoopback(stack_env.WECHAT_APP_ID, stack_env.WECHAT_APP_SECRET, free_port()).start()
    yield loopback
    loopback.stop()


def api_of(wechat: WeChatLoopback, redis_url: str) -> WeChatApi:  # noqa: F811
    """One process's client; every one made with the same ``redis_url`` shares the token."""
    return WeChatApi(f"http://127.0.0.1:{wechat.port}", stack_env.WECHAT_APP_ID, stack_env.WECHAT_APP_SECRET,
                     ChannelGuard(redis_url, f"kefu:wechat-api-test:{uuid.uuid4().hex}"))


async def test_a_voice_message_or_picture_arriving_in_pieces_is_downloaded_whole(wechat, redis_url):  # noqa: F811
    """The download kept whatever had arrived at the first read: over a real network, the first few
    kilobytes of a voice message (the recogniser heard its first seconds) or of a follower's photo."""
    recording, photo = bytes(range(256)) * 160, b"\xff\xd8" + bytes(range(256)) * 400  # 40 KB, 100 KB
    wechat.media["voice-1"] = Media(recording, chunk_bytes=4096)
    wechat.media["photo-1"] = Media(photo, content_type="image/jpeg", chunk_bytes=8192)
    wechat.media["voice-huge"] = Media(b"#" * (MAX_MEDIA_BYTES + 1), chunk_bytes=256 * 1024)
    api = api_of(wechat, redis_url)
    try:
        assert await api.download_media("voice-1") == recording
        assert (await api.fetch_media("photo-1")).data == photo
        with pytest.raises(WeChatApiError, match="too large"):  # WeChat's voice messages are far smaller
            await api.download_media("voice-huge")
    finally:
        await api.close()


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
