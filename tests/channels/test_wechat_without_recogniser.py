"""A WeChat account on a server with no speech recogniser (a fresh install: no Vosk model, WeChat's
own Recognition off). The real channel is served in process with the real domain, a real Redis and
the loopback WeChat API; the shared test stack cannot show this, it has a recogniser."""
from __future__ import annotations

import asyncio

from rasa.core.agent import Agent
from rasa.shared.core.domain import Domain
from sanic import Sanic

from bot.channels.wechat import WeChatInput
from bot.embedded_redis import free_port
from tests.sanic_served import served_app
from tests.channels import stack_env
from tests.channels.test_channel_config import settings
from tests.channels.test_wechat import reply_fields
from tests.channels.wechat_client import WeChatServer, new_msg_id, new_openid, voice_xml
from tests.channels.wechat_loopback import Media, WeChatLoopback
from tests.conftest import PROJECT_ROOT
from tests.handoff.conftest import redis_url  # noqa: F401  the same real Redis fixture
from tests.test_acknowledge_first import reply_text


async def test_a_voice_message_without_a_recogniser_asks_for_text_not_to_say_it_again(redis_url):  # noqa: F811
    """Found by a tester: "没听清，请再说一遍" to a voice message on a line that can never recognise
    one. The follower is told voice cannot be understood now and asked to type instead."""
    api = WeChatLoopback(stack_env.WECHAT_APP_ID, stack_env.WECHAT_APP_SECRET, free_port()).start()
    channel = WeChatInput(settings(
        WECHAT_TOKEN=stack_env.WECHAT_TOKEN, WECHAT_APP_ID=stack_env.WECHAT_APP_ID,
        WECHAT_APP_SECRET=stack_env.WECHAT_APP_SECRET, WECHAT_API_BASE_URL=f"http://127.0.0.1:{api.port}",
        REDIS_URL=redis_url, VOSK_MODEL_PATH=""))
    app = Sanic(f"wechat_no_recogniser_{free_port()}")
    app.ctx.agent = Agent(domain=Domain.load(str(PROJECT_ROOT / "domain")))
    reached_the_assistant = []

    async def on_new_message(message) -> None:
        reached_the_assistant.append(message.text)

    app.blueprint(channel.blueprint(on_new_message), url_prefix="/webhooks/wechat")
    try:
        async with served_app(app) as url:
            wechat = WeChatServer(url=f"{url}/webhooks/wechat/webhook")
            openid, media_id = new_openid(), f"voice-{new_msg_id()}"
            api.media[media_id] = Media(b"#!AMR\n" + b"\x3c" * 320)
            answer = await asyncio.to_thread(wechat.post, voice_xml(openid, media_id, new_msg_id()))
    finally:
        api.stop()
    assert answer.status == 200
    assert reply_fields(answer.body)["Content"] == reply_text("utter_wechat_voice_unavailable")
    assert reached_the_assistant == []
