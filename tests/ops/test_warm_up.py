"""A Rasa worker parses once when it starts, and is not healthy before (found by a WeChat tester:
the first turn on each worker after a restart took 5-8 s, past WeChat's 5 s)."""
from __future__ import annotations

import json
from types import SimpleNamespace

from sanic import Sanic

from bot.channels.ops import OpsInput
from bot.embedded_redis import free_port
from bot.observability import health


class ModelStandIn:
    def __init__(self) -> None:
        self.parsed: list[str] = []

    def is_ready(self) -> bool:
        return True

    async def parse_message(self, text: str) -> dict:
        self.parsed.append(text)
        return {"intent": {"name": "greet"}}


async def test_a_worker_warms_its_model_up_when_it_starts_and_is_unhealthy_until_then(kefu_env, monkeypatch):
    async def all_fine(*_args) -> list:
        return [health.CheckResult("redis", True, 0.0)]

    monkeypatch.setattr(health, "check_all", all_fine)
    channel = OpsInput(kefu_env)
    channel.repository = SimpleNamespace(engine=None)
    before = await channel.health(None)
    assert before.status == 503 and json.loads(before.body)["checks"]["warm_up"]["ok"] is False

    model = ModelStandIn()
    app = Sanic(f"warm_up_{free_port()}")
    app.ctx.agent = model  # Rasa loads it before the server starts
    app.blueprint(channel.blueprint(None))
    server = await app.create_server(host="127.0.0.1", port=free_port(), return_asyncio_server=True,
                                     access_log=False)
    await server.startup()
    await server.after_start()
    try:
        assert model.parsed == ["你好"]
        after = await channel.health(None)
        assert after.status == 200 and json.loads(after.body)["checks"]["warm_up"]["ok"] is True
    finally:
        server.close()
        await server.wait_closed()
