"""Kefu's chat page cuts a draft at the limit the operator set (web chat's ``max_message_chars`` in
credentials.yml), not at a number of its own.

Before: the page cut every draft at a hard-coded 2000 characters. An operator who lowered the limit
had customers type past it and have their message refused; one who raised it had customers' longer
messages cut for nothing. The channel is built as Rasa builds it (``from_credentials`` with
credentials.yml's section) and served in process with its page, a stand-in assistant behind it, and
the page runs in a real Chromium.
"""
from __future__ import annotations

import contextlib
import json
import shutil

import pytest
import yaml
from sanic import Sanic

from bot.channels.webchat import WebChatInput
from bot.embedded_redis import free_port
from tests.channels.test_message_limit import LIMIT, configured  # noqa: F401  credentials.yml with LIMIT
from tests.channels.test_webchat_inflight import Assistant, secrets_in_environment  # noqa: F401
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, PROJECT_ROOT
from tests.handoff.conftest import redis_url  # noqa: F401  the same real Redis fixture

pytestmark = [pytest.mark.browser]

WEBCHAT = "bot.channels.webchat.WebChatInput"
DRAFT = ("宽带连不上了，" * 500)[:2500]


def strings() -> dict:
    return json.loads((PROJECT_ROOT / "content" / "ui" / "webchat.zh.json").read_text(encoding="utf-8"))


@contextlib.asynccontextmanager
async def chat_page(limit: int, configure, redis_url: str):  # noqa: F811
    """The web chat channel of an installation whose credentials.yml says ``max_message_chars: limit``,
    served with its page; yields (page, the assistant behind it)."""
    if not shutil.which(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium fonts-wqy-microhei)")
    from tests.playwright_start import async_playwright_started

    port = free_port()
    settings = configure(REDIS_URL=redis_url, KEFU_RASA_PORT=str(port))  # the page's origin is Kefu's own
    credentials_file = settings.root / "credentials.yml"
    credentials = credentials_file.read_text(encoding="utf-8")
    credentials_file.write_text(credentials.replace(f"max_message_chars: {LIMIT}", f"max_message_chars: {limit}"),
                                encoding="utf-8")
    channel = WebChatInput.from_credentials(yaml.safe_load(credentials_file.read_text(encoding="utf-8"))[WEBCHAT])
    assistant = Assistant()
    app = Sanic(f"webchat_limit_{free_port()}")
    app.blueprint(channel.blueprint(assistant), url_prefix="/webhooks/webchat")
    errors: list[str] = []
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False)
    await server.startup()
    try:
        async with async_playwright_started() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = await browser.new_page(viewport={"width": 375, "height": 740}, locale="zh-CN")
            page.on("pageerror", lambda error: errors.append(str(error)))
            await page.goto(f"http://127.0.0.1:{port}/chat/")
            await page.wait_for_function("() => window.kefuChat && window.kefuChat.session()", timeout=15000)
            yield page, assistant
            await browser.close()
    finally:
        server.close()
        await server.wait_closed()
    assert not errors, errors


async def test_a_draft_is_cut_at_the_lower_limit_the_operator_set(configured, redis_url):  # noqa: F811
    async with chat_page(50, configured, redis_url) as (page, _assistant):
        box = page.get_by_placeholder("请输入您的问题")
        await box.fill(DRAFT[:120])
        assert len(await box.input_value()) == 50, "a draft over the configured limit is cut at it"
        assert await page.locator("#composer-note").inner_text() == strings()["notice_cut_draft"].format(limit=50)


async def test_a_draft_within_a_raised_limit_is_sent_whole(configured, redis_url):  # noqa: F811
    async with chat_page(3000, configured, redis_url) as (page, assistant):
        box = page.get_by_placeholder("请输入您的问题")
        await box.fill(DRAFT)
        assert len(await box.input_value()) == len(DRAFT) == 2500, "not cut at 2000 when the operator allows 3000"
        await page.keyboard.press("Enter")
        await page.locator(".msg.bot", has_text="您好").nth(1).wait_for(timeout=15000)  # after the greeting
        assert assistant.texts() == [DRAFT]
        assert await page.locator(".notice").count() == 0
