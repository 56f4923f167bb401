"""Which browser pages may open the web chat's Socket.IO: Kefu's own always, plus the ones configured.

Served in process (the stand-in assistant of ``test_webchat_inflight``), connected with the page's
real Socket.IO client sending the ``Origin`` a browser would. Found in review: ``KEFU_CORS_ORIGINS``,
documented as *extra* origins, replaced Kefu's own, so an operator adding a partner's site locked
the chat page itself out (Socket.IO checks the origin of same-site pages too).
"""
from __future__ import annotations

import pytest
import socketio

from bot.channels.webchat import WebChatInput
from tests.channels.test_channel_config import settings
from tests.channels.test_webchat_inflight import Assistant, secrets_in_environment, served  # noqa: F401
from tests.handoff.conftest import redis, redis_url  # noqa: F401  the same real Redis fixtures

OWN = "https://kefu.example.com"
PARTNER = "https://shop.example.com"


async def opens(url: str, page_origin: str) -> bool:
    client = socketio.AsyncClient(reconnection=False)
    try:
        await client.connect(url, socketio_path="socket.io", transports=["websocket"],
                             headers={"Origin": page_origin}, wait_timeout=5)
    except socketio.exceptions.ConnectionError:
        return False
    await client.disconnect()
    return True


@pytest.mark.parametrize("credentials", [None, [PARTNER]], ids=["environment", "credentials"])
async def test_adding_a_partner_origin_keeps_kefus_own_chat_page(redis_url, redis, credentials):  # noqa: F811
    env = {"REDIS_URL": redis_url, "KEFU_PUBLIC_URL": OWN}
    if credentials is None:
        env["KEFU_CORS_ORIGINS"] = PARTNER
    channel = WebChatInput(settings(**env), session_persistence=True, cors_allowed_origins=credentials)
    async with served(channel, Assistant()) as url:
        assert await opens(url, OWN), "Kefu's own chat page was refused"
        assert await opens(url, PARTNER)
        assert not await opens(url, "https://elsewhere.example.net")
