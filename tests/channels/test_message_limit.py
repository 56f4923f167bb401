"""Every channel reads at most web chat's ``max_message_chars`` of a message (credentials.yml: one
setting), and tells the customer when it cut one (``notice_cut`` in content/ui/webchat.zh.json).

Before: WeChat and REST cut at a fixed 2000 characters whatever the operator set for web chat, and a
REST client was never told its message was cut. The channels are built as Rasa builds them
(``from_credentials``) and served in process, with a stand-in assistant recording what reached it; the
same over the whole stack: tests/channels/test_intake_text.py."""
from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from sanic import Sanic

from bot import settings as settings_module
from bot.channels.rest import RestInput
from bot.channels.wechat import WeChatInput
from bot.embedded_redis import free_port
from tests.channels.test_wechat import reply_fields
from tests.channels.test_wechat_in_process import Assistant, channel_env, domain, served, wechat_api  # noqa: F401
from tests.channels.wechat_client import new_msg_id, new_openid, text_xml
from tests.conftest import PROJECT_ROOT
from tests.handoff.conftest import redis_url  # noqa: F401  the same real Redis fixture
from tests.sanic_served import served_app

LIMIT = 50
LONG = ("宽带连不上了，" * 20)[:120]


@pytest.fixture
def configured(tmp_path, monkeypatch):
    """An installation whose credentials.yml sets web chat's max_message_chars to ``LIMIT``."""
    credentials = (PROJECT_ROOT / "credentials.yml").read_text(encoding="utf-8")
    assert "max_message_chars: 2000" in credentials
    root = tmp_path / "kefu"
    root.mkdir()
    (root / "credentials.yml").write_text(credentials.replace("max_message_chars: 2000", f"max_message_chars: {LIMIT}"),
                                          encoding="utf-8")
    monkeypatch.setenv("KEFU_ROOT", str(root))
    monkeypatch.setenv("KEFU_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("KEFU_CONTENT_DIR", str(PROJECT_ROOT / "content"))

    def settings_with(**env):
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        settings_module.get_settings.cache_clear()
        return settings_module.get_settings()

    yield settings_with
    settings_module.get_settings.cache_clear()


def cut_notice(limit: int) -> str:
    strings = json.loads((PROJECT_ROOT / "content" / "ui" / "webchat.zh.json").read_text(encoding="utf-8"))
    return strings["notice_cut"].format(limit=limit)


async def test_wechat_cuts_at_web_chats_configured_limit_and_says_so(configured, redis_url, wechat_api,  # noqa: F811
                                                                     domain):  # noqa: F811
    configured(**channel_env(redis_url, wechat_api))
    channel = WeChatInput.from_credentials({"messages_per_minute": 20})
    assistant = Assistant()
    async with served(channel, assistant, domain) as wechat:
        openid = new_openid()
        answer = await asyncio.to_thread(wechat.post, text_xml(openid, LONG, new_msg_id()))
    assert assistant.texts() == [LONG[:LIMIT]]
    assert reply_fields(answer.body)["Content"].startswith(cut_notice(LIMIT))


async def rest_post(channel: RestInput, assistant: Assistant, message: str) -> list[dict]:
    app = Sanic(f"rest_limit_{free_port()}")
    app.blueprint(channel.blueprint(assistant), url_prefix="/webhooks/rest")
    async with served_app(app) as url, aiohttp.ClientSession() as http:
        async with http.post(f"{url}/webhooks/rest/webhook", json={"sender": "rest-limit", "message": message}) as answer:
            assert answer.status == 200
            return await answer.json()


async def test_rest_cuts_at_web_chats_configured_limit_and_tells_the_client_first(configured):
    configured()
    assistant = Assistant()
    replies = await rest_post(RestInput.from_credentials(None), assistant, LONG)
    assert assistant.texts() == [LONG[:LIMIT]]
    assert replies == [{"recipient_id": "rest-limit", "text": cut_notice(LIMIT)},
                       {"recipient_id": "rest-limit", "text": "您好"}]


async def test_a_rest_message_within_the_limit_is_answered_without_a_notice(configured):
    configured()
    assistant = Assistant()
    within = LONG[:LIMIT] + "\ud83d"  # half an emoji is dropped, not counted as a cut
    replies = await rest_post(RestInput.from_credentials(None), assistant, within)
    assert assistant.texts() == [LONG[:LIMIT]]
    assert replies == [{"recipient_id": "rest-limit", "text": "您好"}]


async def test_a_cut_notice_that_does_not_fill_leaves_the_answer(configured, tmp_path, monkeypatch):
    """Found in review: a notice_cut written with "{}" (IndexError) failed the REST client's long message,
    where a missing one is skipped; the customer is answered, only the notice is left out."""
    import shutil

    content = shutil.copytree(PROJECT_ROOT / "content", tmp_path / "content")
    strings = content / "ui" / "webchat.zh.json"
    text = strings.read_text(encoding="utf-8")
    assert "您的消息超过 {limit} 字，只发送了前 {limit} 字" in text
    strings.write_text(text.replace("您的消息超过 {limit} 字，只发送了前 {limit} 字", "您的消息超过 {} 字，只发送了前 {} 字"),
                       encoding="utf-8")
    configured(KEFU_CONTENT_DIR=str(content))
    assistant = Assistant()
    replies = await rest_post(RestInput.from_credentials(None), assistant, LONG)
    assert assistant.texts() == [LONG[:LIMIT]]
    assert replies == [{"recipient_id": "rest-limit", "text": "您好"}]
