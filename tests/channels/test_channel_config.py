"""Channel construction, reply shaping and XML parsing without servers."""
from __future__ import annotations

import dataclasses

import pytest
from defusedxml.common import DefusedXmlException
from sanic import Sanic

from bot.channels import ChannelConfigError
from bot.channels.wechat import WeChatInput, safe_fields
from bot.channels.wechat_replies import NewsUnit, TextUnit, custom_message, merge_as_text, to_units
from bot.embedded_redis import free_port
from bot.settings import from_environment
from tests.sanic_served import served_app
from tests.channels import stack_env


def settings(**env):
    return from_environment({"KEFU_DATA_DIR": "/tmp/kefu-channel-config", **env})


def test_settings_defaults_and_wechat_fields():
    plain = settings()
    assert plain.wechat_token == "" and plain.wechat_api_base_url == "https://api.weixin.qq.com"
    assert plain.wechat_use_recognition is False
    configured = settings(WECHAT_TOKEN="tok-SECRET-1", WECHAT_APP_SECRET="sec-SECRET-2", WECHAT_USE_RECOGNITION="true", WECHAT_API_BASE_URL="http://127.0.0.1:1/")
    assert configured.wechat_use_recognition and configured.wechat_api_base_url == "http://127.0.0.1:1"
    assert "SECRET" not in repr(dataclasses.replace(configured, env={}))  # secrets stay out of reprs


@pytest.mark.parametrize("env, message", [
    ({"WECHAT_TOKEN": "t", "WECHAT_APP_ID": "wx1", "WECHAT_AES_KEY": "short"}, "43-character"),
    ({"WECHAT_AES_KEY": stack_env.WECHAT_AES_KEY}, "needs WECHAT_TOKEN"),
])
def test_bad_wechat_settings_raise_channel_config_error(env, message):
    with pytest.raises(ChannelConfigError, match=message):
        WeChatInput(settings(**env))


def test_deadline_must_leave_time_before_wechat_gives_up():
    with pytest.raises(ChannelConfigError):
        WeChatInput(settings(WECHAT_TOKEN="t"), reply_deadline_seconds=6)


async def test_unconfigured_channel_answers_503(caplog):
    channel = WeChatInput(settings())
    assert channel.get_output_channel() is None
    app = Sanic(f"wechat_unconfigured_{free_port()}")

    async def never_called(message):  # pragma: no cover - must not happen
        raise AssertionError("an unconfigured channel handled a message")

    app.blueprint(channel.blueprint(never_called), url_prefix="/webhooks/wechat")
    import aiohttp

    async with served_app(app) as url, aiohttp.ClientSession() as http:
        async with http.post(f"{url}/webhooks/wechat/webhook", data=b"<xml/>") as answer:
            assert answer.status == 503
        async with http.get(f"{url}/webhooks/wechat/") as answer:
            assert (await answer.json())["status"] == "not_configured"


def test_selfhelp_turn_becomes_news_plus_menu_text():
    units, menu = to_units([
        {"text": "重启光猫\n1. 拔电源\n2. 等1分钟", "buttons": [{"title": "帮助", "url": "https://h/x", "type": "web_url"}]},
        {"attachment": {"type": "video", "payload": {"title": "重启光猫", "src": "http://k/media/a.mp4",
                                                     "poster": "http://k/media/a.jpg"}}},
        {"text": "解决了吗？", "buttons": [{"title": "解决了", "payload": "/affirm"}, {"title": "没解决", "payload": "/deny"}]},
    ])
    # The card opens the entry's page (video and steps): opening the bare video lost the steps (found in review).
    assert units[0] == NewsUnit("重启光猫", "1. 拔电源\n2. 等1分钟", "https://h/x", "http://k/media/a.jpg")
    assert isinstance(units[1], TextUnit) and "msgmenuid=2" in units[1].content
    assert menu.payloads == {"1": "/affirm", "2": "/deny"}
    assert custom_message("o1", units[0])["news"]["articles"][0]["picurl"] == "http://k/media/a.jpg"
    assert "https://h/x" in merge_as_text(units).content
    without_page = to_units([{"text": "重启光猫\n1. 拔电源"}, {"attachment": {"type": "video", "payload": {
        "title": "重启光猫", "src": "http://k/media/a.mp4"}}}])[0]
    assert without_page[0].url == "http://k/media/a.mp4"


def test_button_titles_are_escaped_in_wechat_links():
    units, _ = to_units([{"text": "x", "buttons": [{"title": '"><a href="evil">', "payload": "/p"}]}])
    assert 'href="evil"' not in units[0].content


@pytest.mark.parametrize("xml", [
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><xml><Content>&a;</Content></xml>',
    b'<!DOCTYPE xml SYSTEM "http://example.com/x.dtd"><xml/>',
])
def test_safe_fields_refuses_dtds(xml):
    with pytest.raises((DefusedXmlException, ValueError)):
        safe_fields(xml)


def test_the_start_banner_says_whether_wechat_is_set_up():
    """Found by a tester: the banner listed every channel but WeChat."""
    from bot.cli import wechat_note

    assert "not configured" in wechat_note(settings())
    assert "plain mode only" in wechat_note(settings(WECHAT_TOKEN="t", WECHAT_APP_ID="wx1", WECHAT_APP_SECRET="s"))
    safe = wechat_note(settings(WECHAT_TOKEN="t", WECHAT_APP_ID="wx1", WECHAT_APP_SECRET="s",
                                WECHAT_AES_KEY=stack_env.WECHAT_AES_KEY))
    assert "safe mode" in safe and "passive replies only" not in safe
