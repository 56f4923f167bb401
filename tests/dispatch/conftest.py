"""The dispatch system's side: Kefu's status endpoint served over a socket, and a loopback receiver
standing for the dispatch system that checks each event's signature."""
from __future__ import annotations

import json

import pytest
from aiohttp import web
from sanic import Sanic

from bot import settings as settings_module
from bot.channels.dispatch import DispatchInput
from bot.embedded_redis import free_port
from bot.outbound.rest_callback import SIGNATURE_HEADER, signature
from tests.sanic_served import served_app
from tests.sms_loopback import serving

# A second Sanic app in the process can only start in test mode (see tests/channels/conftest.py).
Sanic.test_mode = True

TOKEN = "dispatch-test-token"
EVENTS_SECRET = "dispatch-events-secret"


class DispatchSystem:
    """What the loopback receiver got (events whose signature checked out), and how it answers."""

    def __init__(self) -> None:
        self.events: list[dict] = []
        self.bad_signatures = 0
        self.answers: list[int] = []  # answers to give, in turn; then 200

    async def receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        if request.headers.get(SIGNATURE_HEADER) != signature(EVENTS_SECRET, body):
            self.bad_signatures += 1
            return web.Response(status=401)
        status = self.answers.pop(0) if self.answers else 200
        if status == 200:
            self.events.append({**json.loads(body), "header_event_id": request.headers.get("X-Kefu-Event-Id")})
        return web.Response(status=status)


@pytest.fixture
async def dispatch_system(kefu_env, monkeypatch):
    """The loopback dispatch system, with Kefu's settings pointing at it (token, events URL, secret)."""
    system = DispatchSystem()
    app = web.Application()
    app.router.add_post("/kefu/events", system.receive)
    async with serving(app) as base_url:
        monkeypatch.setenv("KEFU_DISPATCH_TOKEN", TOKEN)
        monkeypatch.setenv("KEFU_DISPATCH_EVENTS_URL", f"{base_url}/kefu/events")
        monkeypatch.setenv("KEFU_DISPATCH_EVENTS_SECRET", EVENTS_SECRET)
        settings_module.get_settings.cache_clear()
        yield system
    settings_module.get_settings.cache_clear()


@pytest.fixture
async def kefu_url(kefu_env):
    """Kefu's dispatch endpoint on a Sanic server, registered as credentials.yml's channel registers it."""
    app = Sanic(f"dispatch_{free_port()}")
    app.blueprint(DispatchInput.from_credentials(None).blueprint(None))
    async with served_app(app) as url:
        yield url
